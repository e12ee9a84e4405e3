package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/jobs"
)

const apikeysUsage = `Usage: enqueue apikeys create|list|revoke [flags]

API keys let HTTP clients enqueue through the gateway (Authorization: Bearer KEY). Each key is
scoped to the workflows and connections it may enqueue for ("*": any); the connection of a job
that names none is its workflow's, else "default". Only a hash of the key is stored.

  create --name N --workflows W1,W2 --connections C1,C2 [--rate R --burst B]
                      print a new key, once: it cannot be shown again
  list                every key: id, name, scopes, rate (--json); never the key itself
  revoke ID           the key's requests are refused from then on
`

func runAPIKeys(ctx context.Context, a *app, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(a.stdout, apikeysUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub := args[0]
	id, rest := splitName(args[1:])
	var name, workflows, connections string
	var rate float64
	var burst int
	var asJSON bool
	fs := a.flags("apikeys "+sub, "[flags]")
	switch sub {
	case "create":
		fs.StringVar(&name, "name", "", "what the key is for, e.g. the client system (required)")
		fs.StringVar(&workflows, "workflows", "", "comma-separated workflow ids the key may enqueue for, or * (required)")
		fs.StringVar(&connections, "connections", "", "comma-separated connections the key may enqueue for (default: the default connection), or * (required)")
		fs.Float64Var(&rate, "rate", 0, "requests per second per gateway replica (0: the gateway's GATEWAY_RATE_LIMIT)")
		fs.IntVar(&burst, "burst", 0, "requests allowed at once above the rate (0: the gateway's GATEWAY_RATE_BURST)")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print the keys as JSON")
	case "revoke":
	default:
		return a.fail("apikeys: unknown subcommand %q\n\n%s", sub, apikeysUsage)
	}
	if code, ok := parse(fs, rest); !ok {
		return code
	}
	switch {
	case sub == "create" && (name == "" || workflows == "" || connections == ""):
		fs.Usage()
		return a.fail("apikeys create: --name, --workflows and --connections are required")
	case sub == "revoke" && id == "":
		return a.fail("apikeys revoke: the key id is required (see enqueue apikeys list)")
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	kv, err := a.js.KeyValue(ctx, jobs.APIKeysBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return a.fail("the KV bucket %s does not exist yet: start a gateway or a worker of this version first (it creates it)", jobs.APIKeysBucket)
	}
	if err != nil {
		return a.fail("%v", err)
	}
	store := apikeys.NewStore(kv)
	switch sub {
	case "create":
		k, token, err := store.Create(ctx, apikeys.Key{Name: name, Workflows: splitList(workflows), Connections: splitList(connections), RatePerSecond: rate, Burst: burst})
		if err != nil {
			return a.fail("%v", err)
		}
		fmt.Fprintf(a.stderr, "API key %s (%s) created; it is shown once, store it now:\n", k.ID, k.Name)
		fmt.Fprintln(a.stdout, token.Reveal())
		return exitOK
	case "list":
		keys, err := store.List(ctx)
		if err != nil {
			return a.fail("%v", err)
		}
		if asJSON {
			writeJSON(a.stdout, keys)
			return exitOK
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tWORKFLOWS\tCONNECTIONS\tRATE\tCREATED")
		for _, k := range keys {
			r := "default"
			if k.RatePerSecond > 0 {
				r = fmt.Sprintf("%g/s burst %d", k.RatePerSecond, k.Burst)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Workflows, ","), strings.Join(k.Connections, ","), r, k.CreatedAt.Format("2006-01-02 15:04"))
		}
		_ = tw.Flush()
		return exitOK
	default:
		if err := store.Revoke(ctx, id); err != nil {
			return a.fail("%v", err)
		}
		fmt.Fprintf(a.stdout, "API key %s revoked\n", id)
		return exitOK
	}
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
