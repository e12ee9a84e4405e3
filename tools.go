//go:build tools

// Package tools pins dependencies while the packages that use them are written. Removed before landing.
package tools
import (
 _ "github.com/nats-io/nats.go/jetstream"
 _ "github.com/nats-io/nats-server/v2/server"
 _ "github.com/cenkalti/backoff/v4"
 _ "golang.org/x/oauth2"
 _ "github.com/kelseyhightower/envconfig"
 _ "github.com/getkin/kin-openapi/openapi3filter"
 _ "github.com/itchyny/gojq"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "gopkg.in/yaml.v3"
 _ "go.uber.org/goleak"
 _ "github.com/google/go-cmp/cmp"
)
