package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
)

// startServer runs a nats-server on a free loopback port with the options configure sets.
func startServer(t *testing.T, configure func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{}
	configure(opts)
	return brokertest.StartNATS(t, opts)
}

// writeFile writes data to a new file in a test directory and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// connect connects with cfg and closes the connection at the end of the test. Asynchronous
// errors (permission violations the tests provoke) are dropped rather than printed.
func connect(t *testing.T, cfg broker.ClientConfig) (*nats.Conn, error) {
	t.Helper()
	nc, err := broker.Connect(cfg, nats.Timeout(2*time.Second), nats.NoReconnect(),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func TestOptionsRejectsBadConfigurations(t *testing.T) {
	t.Parallel()
	const password, token = "pa55-word-never-shown", "t0ken-never-shown"
	seed := writeFile(t, "user.nk", userSeed(t))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name        string
		cfg         broker.ClientConfig
		field, with string
	}{
		{"creds and user", broker.ClientConfig{CredsFile: seed, User: "u", Password: password}, "CredsFile", "User"},
		{"nkey and token", broker.ClientConfig{NKeySeedFile: seed, Token: token}, "NKeySeedFile", "Token"},
		{"creds and nkey", broker.ClientConfig{CredsFile: seed, NKeySeedFile: seed}, "CredsFile", "NKeySeedFile"},
		{"user and token", broker.ClientConfig{User: "u", Password: password, Token: token}, "User", "Token"},
		{"user without password", broker.ClientConfig{User: "u"}, "User", "Password"},
		{"password without user", broker.ClientConfig{Password: password}, "Password", "User"},
		{"url user info and password", broker.ClientConfig{URL: "nats://a:1, nats://u:p@b:2", Password: password}, "URL", "Password"},
		{"url token and creds", broker.ClientConfig{URL: "nats://tok@b:2", CredsFile: seed}, "URL", "CredsFile"},
		{"cert without key", broker.ClientConfig{TLSCertFile: seed}, "TLSCertFile", "TLSKeyFile"},
		{"key without cert", broker.ClientConfig{TLSKeyFile: seed}, "TLSCertFile", "TLSKeyFile"},
		{"missing CA", broker.ClientConfig{TLSCAFile: missing}, "TLSCAFile", ""},
		{"CA not PEM", broker.ClientConfig{TLSCAFile: seed}, "TLSCAFile", ""},
		{"missing creds", broker.ClientConfig{CredsFile: missing}, "CredsFile", ""},
		{"seed given as creds", broker.ClientConfig{CredsFile: seed}, "CredsFile", ""},
		{"missing nkey seed", broker.ClientConfig{NKeySeedFile: missing}, "NKeySeedFile", ""},
		{"not a seed", broker.ClientConfig{NKeySeedFile: writeFile(t, "x", []byte("hello"))}, "NKeySeedFile", ""},
		{"bad inbox prefix", broker.ClientConfig{InboxPrefix: "_INBOX.>"}, "InboxPrefix", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.cfg.Options()
			var fe *broker.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Options() = %v; want a *FieldError", err)
			}
			if fe.Field != tt.field || fe.With != tt.with {
				t.Errorf("FieldError{Field: %q, With: %q}, want {%q, %q}: %v", fe.Field, fe.With, tt.field, tt.with, err)
			}
			if msg := err.Error(); strings.Contains(msg, password) || strings.Contains(msg, token) {
				t.Errorf("error shows a secret: %s", msg)
			}
			if _, err := broker.Connect(tt.cfg); !errors.As(err, &fe) {
				t.Errorf("Connect() = %v; want the same *FieldError", err)
			}
		})
	}
}

func TestFieldErrorDescribe(t *testing.T) {
	t.Parallel()
	_, err := broker.ClientConfig{CredsFile: "/x.creds", User: "u", Password: "p"}.Options()
	var fe *broker.FieldError
	if !errors.As(err, &fe) {
		t.Fatal(err)
	}
	got := fe.Describe(func(f string) string { return broker.EnvNames[f] })
	if !strings.HasPrefix(got, "NATS_CREDS_FILE and NATS_USER: cannot be used together") {
		t.Errorf("Describe = %q", got)
	}
	if env := fe.DescribeEnv(); env != got {
		t.Errorf("DescribeEnv = %q, want %q", env, got)
	}
	if !strings.HasPrefix(err.Error(), "broker: CredsFile and User: ") {
		t.Errorf("Error = %q", err.Error())
	}
}

// TestDialReconnectsAndLogs: a connection from Dial outlives a restart of its server, takes the
// caller's options after its own, and logs the loss and the return.
func TestDialReconnectsAndLogs(t *testing.T) {
	t.Parallel()
	ns := startServer(t, func(*server.Options) {})
	port := ns.Addr().(*net.TCPAddr).Port
	lines := make(lineWriter, 64)
	nc, err := broker.Dial(broker.ClientConfig{URL: ns.ClientURL()}, slog.New(slog.NewTextHandler(lines, nil)),
		nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if nc.Opts.MaxReconnect != -1 || nc.Opts.ReconnectWait != 20*time.Millisecond {
		t.Errorf("MaxReconnects %d, ReconnectWait %s; want -1 (no end) and the caller's 20ms", nc.Opts.MaxReconnect, nc.Opts.ReconnectWait)
	}
	ns.Shutdown()
	lines.await(t, `level=WARN msg="nats disconnected"`)
	startServer(t, func(o *server.Options) { o.Port = port })
	lines.await(t, `level=INFO msg="nats reconnected" url=nats://127.0.0.1:`)
	if !nc.IsConnected() {
		t.Errorf("after the reconnection: %s", nc.Status())
	}
}

// lineWriter receives a logger's lines.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	select {
	case w <- string(p):
	default:
	}
	return len(p), nil
}

// await waits up to 10 s for a line containing want.
func (w lineWriter) await(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-w:
			if strings.Contains(line, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line with %s", want)
		}
	}
}

func TestSecurityFields(t *testing.T) {
	t.Parallel()
	if got := (broker.ClientConfig{URL: "nats://x", Name: "n", InboxPrefix: "_I"}).SecurityFields(); len(got) != 0 {
		t.Errorf("SecurityFields of a plain config = %v", got)
	}
	c := broker.ClientConfig{User: "u", Password: "p", TLSCAFile: "/ca.pem", TLSKeyFile: "/k.pem"}
	if got, want := strings.Join(c.SecurityFields(), ","), "User,Password,TLSCAFile,TLSKeyFile"; got != want {
		t.Errorf("SecurityFields = %s, want %s", got, want)
	}
}

func TestConnectUserPassword(t *testing.T) {
	t.Parallel()
	const password = "s3cret-pa55word"
	ns := startServer(t, func(o *server.Options) {
		o.Users = []*server.User{{Username: "hrpush-worker", Password: password}}
	})
	cfg := broker.ClientConfig{URL: ns.ClientURL(), User: "hrpush-worker", Password: password}
	if _, err := connect(t, cfg); err != nil {
		t.Fatalf("right password: %v", err)
	}

	cfg.Password = "wrong-" + password
	_, err := connect(t, cfg)
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong password: %v; want nats.ErrAuthorization", err)
	}
	if strings.Contains(err.Error(), string(cfg.Password)) || strings.Contains(err.Error(), password) {
		t.Errorf("error shows the password: %v", err)
	}

	if _, err := connect(t, broker.ClientConfig{URL: ns.ClientURL()}); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous: %v; want nats.ErrAuthorization", err)
	}
}

func TestConnectToken(t *testing.T) {
	t.Parallel()
	ns := startServer(t, func(o *server.Options) { o.Authorization = "t0ken-for-hrpush" })
	if _, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), Token: "t0ken-for-hrpush"}); err != nil {
		t.Fatalf("right token: %v", err)
	}
	_, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), Token: "wrong-t0ken"})
	if !errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "wrong-t0ken") {
		t.Errorf("wrong token: %v; want nats.ErrAuthorization without the token", err)
	}
}

// userSeed returns a new user nkey seed (SU…).
func userSeed(t *testing.T) []byte {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

func TestConnectNKey(t *testing.T) {
	t.Parallel()
	seed := userSeed(t)
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	ns := startServer(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	if _, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), NKeySeedFile: writeFile(t, "user.nk", seed)}); err != nil {
		t.Fatalf("known nkey: %v", err)
	}
	other := writeFile(t, "other.nk", userSeed(t))
	if _, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), NKeySeedFile: other}); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("unknown nkey: %v; want nats.ErrAuthorization", err)
	}
}

// TestConnectCredsFile runs a server in operator (JWT) mode: operator → account → user, and
// connects with the user's .creds file.
func TestConnectCredsFile(t *testing.T) {
	t.Parallel()
	operator, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	operatorPub, _ := operator.PublicKey()
	account, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	accountPub, _ := account.PublicKey()
	accountJWT, err := jwt.NewAccountClaims(accountPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	creds := func(signer nkeys.KeyPair) string {
		user, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		userPub, _ := user.PublicKey()
		userSeed, _ := user.Seed()
		userJWT, err := jwt.NewUserClaims(userPub).Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		b, err := jwt.FormatUserConfig(userJWT, userSeed)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, "user.creds", b)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(accountPub, accountJWT); err != nil {
		t.Fatal(err)
	}
	ns := startServer(t, func(o *server.Options) {
		o.TrustedKeys = []string{operatorPub}
		o.AccountResolver = resolver
	})
	if _, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), CredsFile: creds(account)}); err != nil {
		t.Fatalf("creds of the account: %v", err)
	}
	stranger, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), CredsFile: creds(stranger)}); err == nil {
		t.Error("creds signed by an unknown account: connected")
	}
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, as files.
type testPKI struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hrpush test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips ...net.IP) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, IPAddresses: ips,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	}
	serverCert, serverKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	pair, err := tls.X509KeyPair(serverCert, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey := leaf(3, "hrpush-worker", x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{
		caFile:     writeFile(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		clientCert: writeFile(t, "client.pem", clientCert),
		clientKey:  writeFile(t, "client-key.pem", clientKey),
		server:     pair,
		pool:       pool,
	}
}

func TestConnectTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	tlsServer := func(verifyClients bool) string {
		ns := startServer(t, func(o *server.Options) {
			o.TLS, o.TLSVerify, o.TLSTimeout = true, verifyClients, 2
			o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
			if verifyClients {
				o.TLSConfig.ClientCAs = pki.pool
				o.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
			}
		})
		return ns.ClientURL()
	}

	t.Run("server certificate", func(t *testing.T) {
		t.Parallel()
		url := tlsServer(false)
		nc, err := connect(t, broker.ClientConfig{URL: url, TLSCAFile: pki.caFile})
		if err != nil {
			t.Fatalf("with the CA: %v", err)
		}
		if _, err := nc.TLSConnectionState(); err != nil {
			t.Errorf("connected without TLS: %v", err)
		}
		if _, err := connect(t, broker.ClientConfig{URL: url}); err == nil {
			t.Error("without the CA: connected to a server whose certificate no known CA signed")
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		t.Parallel()
		url := tlsServer(true)
		cfg := broker.ClientConfig{URL: url, TLSCAFile: pki.caFile, TLSCertFile: pki.clientCert, TLSKeyFile: pki.clientKey}
		if _, err := connect(t, cfg); err != nil {
			t.Fatalf("with CA and client certificate: %v", err)
		}
		cfg.TLSCertFile, cfg.TLSKeyFile = "", ""
		if _, err := connect(t, cfg); err == nil {
			t.Error("without a client certificate: connected to a server that requires one")
		}
	})
	t.Run("key and certificate swapped", func(t *testing.T) {
		t.Parallel()
		_, err := broker.ClientConfig{TLSCertFile: pki.clientKey, TLSKeyFile: pki.clientCert}.Options()
		var fe *broker.FieldError
		if !errors.As(err, &fe) || fe.Field != "TLSCertFile" {
			t.Errorf("Options() = %v; want a FieldError on TLSCertFile", err)
		}
	})
}

// workerPermissions allows what the worker needs, with replies on its own inbox prefix only.
func workerPermissions() *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"hrpush.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{broker.WorkerInboxPrefix + ".>"}},
	}
}

// exerciseJetStream does what a worker does: create the streams and buckets, read and write a
// token record, publish a job, pull and ack it.
func exerciseJetStream(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	buckets, err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{})
	if err != nil {
		return err
	}
	if _, err := buckets.Tokens.Put(ctx, "jobadder", []byte(`{"access_token":"x"}`)); err != nil {
		return err
	}
	if _, err := buckets.Tokens.Get(ctx, "jobadder"); err != nil {
		return err
	}
	if _, err := js.Publish(ctx, jobs.SubjectPrefix+"jobadder", []byte(`{}`)); err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, jobs.JobsStream, jetstream.ConsumerConfig{Durable: "t", FilterSubject: jobs.SubjectPrefix + "jobadder"})
	if err != nil {
		return err
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return err
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			return err
		}
		return nil
	}
	if batch.Error() != nil {
		return batch.Error()
	}
	return errors.New("no job fetched")
}

func TestInboxPrefix(t *testing.T) {
	t.Parallel()
	ns := startServer(t, func(o *server.Options) {
		o.JetStream = true
		o.Users = []*server.User{{Username: "w", Password: "p", Permissions: workerPermissions()}}
	})
	cfg := broker.ClientConfig{URL: ns.ClientURL(), User: "w", Password: "p", InboxPrefix: broker.WorkerInboxPrefix}
	nc, err := connect(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if inbox := nc.NewRespInbox(); !strings.HasPrefix(inbox, broker.WorkerInboxPrefix+".") {
		t.Errorf("NewRespInbox() = %q, want prefix %s.", inbox, broker.WorkerInboxPrefix)
	}
	if inbox := nc.NewInbox(); !strings.HasPrefix(inbox, broker.WorkerInboxPrefix+".") {
		t.Errorf("NewInbox() = %q, want prefix %s.", inbox, broker.WorkerInboxPrefix)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := exerciseJetStream(ctx, nc); err != nil {
		t.Fatalf("JetStream with replies on %s.>: %v", broker.WorkerInboxPrefix, err)
	}

	// The same user with the default prefix gets no reply: it may not subscribe to _INBOX.
	cfg.InboxPrefix = ""
	nc, err = connect(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := js.AccountInfo(short); err == nil {
		t.Error("a JetStream call with the default _INBOX prefix succeeded despite the permissions")
	}
}

// TestDeploymentPermissions starts a server from deployments/nats/nats-server.conf and checks
// that, with the inbox prefixes, the worker can do its JetStream work, the producer can
// enqueue, the gateway can do what it will need, and the producer cannot overhear the worker's
// replies (the token records). cmd/enqueue's TestShippedPermissions runs every enqueue command
// against the same file. Not parallel: it sets the environment.
func TestDeploymentPermissions(t *testing.T) {
	ns := brokertest.StartConfigFile(t, "../../deployments/nats/nats-server.conf", map[string]string{
		"SERVER_NAME": "nats-0", "HRPUSH_WORKER_PASSWORD": "wpass", "HRPUSH_ENQUEUE_PASSWORD": "epass",
		"HRPUSH_OPERATOR_PASSWORD": "opass", "HRPUSH_GATEWAY_PASSWORD": "gpass",
	})

	worker, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), User: "hrpush-worker", Password: "wpass", InboxPrefix: broker.WorkerInboxPrefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := exerciseJetStream(ctx, worker); err != nil {
		t.Fatalf("worker: %v", err)
	}

	denied := make(chan error, 4)
	producer, err := broker.Connect(broker.ClientConfig{URL: ns.ClientURL(), User: "hrpush-enqueue", Password: "epass", InboxPrefix: broker.EnqueueInboxPrefix},
		nats.NoReconnect(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	js, err := jetstream.New(producer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, jobs.JobsStream); err != nil {
		t.Fatalf("producer: stream info: %v", err)
	}
	if _, err := js.Publish(ctx, jobs.SubjectPrefix+"jobadder", []byte(`{}`)); err != nil {
		t.Fatalf("producer: publish a job: %v", err)
	}
	// enqueue source --incremental: its watermark, and its lock with a TTL.
	for bucket, opts := range map[string][]jetstream.KVCreateOpt{jobs.StateBucket: nil, jobs.LocksBucket: {jetstream.KeyTTL(time.Minute)}} {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("producer: bind %s: %v", bucket, err)
		}
		const key = "incremental.w.jobadder.s"
		rev, err := kv.Create(ctx, key, []byte("1"), opts...)
		if err != nil {
			t.Fatalf("producer: create %s %s: %v", bucket, key, err)
		}
		if rev, err = kv.Update(ctx, key, []byte("2"), rev); err != nil {
			t.Fatalf("producer: update %s %s: %v", bucket, key, err)
		}
		if e, err := kv.Get(ctx, key); err != nil || string(e.Value()) != "2" {
			t.Fatalf("producer: get %s %s: %v", bucket, key, err)
		}
		if err := kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
			t.Fatalf("producer: delete %s %s: %v", bucket, key, err)
		}
	}

	// The eavesdropper: the producer tries to listen on the worker's replies while the
	// worker reads the token record.
	overheard, err := producer.SubscribeSync(broker.WorkerInboxPrefix + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := producer.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-denied:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("subscribe to the worker's inbox: %v; want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("subscribing to the worker's inbox was not refused")
	}
	// Nor on the operators' or the gateway's, which read tokens too.
	for _, prefix := range []string{broker.OperatorInboxPrefix, broker.GatewayInboxPrefix} {
		if _, err := producer.SubscribeSync(prefix + ".>"); err != nil {
			t.Fatal(err)
		}
		if err := producer.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-denied:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), prefix) {
				t.Errorf("subscribe to %s.>: %v; want a permissions violation", prefix, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("subscribing to %s.> was not refused", prefix)
		}
	}
	kv, err := jetstream.New(worker)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := kv.KeyValue(ctx, jobs.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Get(ctx, "jobadder"); err != nil {
		t.Fatal(err)
	}
	// The reply has been delivered once Get returned; give a leaked copy a moment to arrive.
	if m, err := overheard.NextMsg(250 * time.Millisecond); err == nil {
		t.Errorf("producer overheard a worker reply on %s: %.60s", m.Subject, m.Data)
	}

	// The gateway: jobs and batches, API keys and connections (read), its
	// Idempotency-Key records, the consent flow's links and states and the tokens it exchanges.
	// The operators' user: the consent links (enqueue connect --gateway) and the API keys
	// (enqueue apikeys). Those buckets come with the gateway; the worker's user creates them here.
	// Each user writes the buckets it may write, and reads what the operator wrote.
	wjs, err := jetstream.New(worker)
	if err != nil {
		t.Fatal(err)
	}
	for _, bucket := range []string{"hrpush_apikeys", "hrpush_idempotency", "hrpush_consent"} {
		if _, err := wjs.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket}); err != nil {
			t.Fatalf("worker: create %s: %v", bucket, err)
		}
	}
	for _, c := range []struct {
		user, password, prefix string
		write, read            []string
	}{
		// The operator first: the gateway reads what it wrote.
		{"hrpush-operator", "opass", broker.OperatorInboxPrefix,
			[]string{"hrpush_apikeys", "hrpush_consent", jobs.TokensBucket, jobs.ConnectionsBucket}, nil},
		{"hrpush-gateway", "gpass", broker.GatewayInboxPrefix,
			[]string{"hrpush_idempotency", "hrpush_consent", jobs.TokensBucket}, []string{"hrpush_apikeys", jobs.ConnectionsBucket}},
	} {
		nc, err := connect(t, broker.ClientConfig{URL: ns.ClientURL(), User: c.user, Password: secret.Value(c.password), InboxPrefix: c.prefix})
		if err != nil {
			t.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if c.user == "hrpush-gateway" {
			if _, err := js.Publish(ctx, jobs.SubjectPrefix+"jobadder", []byte(`{}`)); err != nil {
				t.Errorf("gateway: publish a job: %v", err)
			}
			if _, err := js.Publish(ctx, jobs.BatchesSubjectPrefix+"b1", []byte(`{}`)); err != nil {
				t.Errorf("gateway: publish a batch header: %v", err)
			}
		}
		for _, bucket := range append(c.write, c.read...) {
			kv, err := js.KeyValue(ctx, bucket)
			if err != nil {
				t.Fatalf("%s: bind %s: %v", c.user, bucket, err)
			}
			key := "jobadder.hrpush-operator"
			if slices.Contains(c.write, bucket) {
				key = "jobadder." + c.user
				if _, err := kv.Put(ctx, key, []byte("x")); err != nil {
					t.Errorf("%s: put in %s: %v", c.user, bucket, err)
				}
			}
			if _, err := kv.Get(ctx, key); err != nil {
				t.Errorf("%s: get from %s: %v", c.user, bucket, err)
			}
		}
		short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
		if _, err := js.CreateOrUpdateKeyValue(short, jetstream.KeyValueConfig{Bucket: "hrpush_other"}); err == nil {
			t.Errorf("%s: created a bucket", c.user)
		}
		cancelShort()
	}
}
