package connections

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/nacl/secretbox"
)

// ErrNoKey is returned when a connection's secrets must be sealed or opened and no key is
// configured.
var ErrNoKey = errors.New("connections: no secrets key: set HRPUSH_SECRETS_KEY (32 random bytes, base64 or hex; e.g. `openssl rand -base64 32`) " +
	"to the same value for every worker and enqueue")

// Sealed is a connection's secrets, encrypted and authenticated with NaCl secretbox
// (XSalsa20-Poly1305, golang.org/x/crypto) under the fleet's key.
type Sealed struct {
	// KeyID names the key that sealed it (the first 8 hex digits of its SHA-256), so that a
	// process with another key says so instead of failing obscurely.
	KeyID string `json:"key_id"`
	// Box is the 24-byte nonce followed by the sealed JSON.
	Box []byte `json:"box"`
}

// Keyring seals and opens connection secrets.
type Keyring struct {
	key [32]byte
	id  string
}

// NewKeyring reads a 32-byte key given in standard or URL base64, or in hex.
func NewKeyring(encoded string) (*Keyring, error) {
	encoded = strings.TrimSpace(encoded)
	if encoded == "" {
		return nil, ErrNoKey
	}
	var raw []byte
	for _, dec := range []func(string) ([]byte, error){
		hex.DecodeString, base64.StdEncoding.DecodeString, base64.URLEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
	} {
		if b, err := dec(encoded); err == nil && len(b) == 32 {
			raw = b
			break
		}
	}
	if raw == nil {
		return nil, errors.New("connections: the secrets key must be 32 bytes in base64 or hex (e.g. `openssl rand -base64 32`)")
	}
	k := &Keyring{}
	copy(k.key[:], raw)
	sum := sha256.Sum256(raw)
	k.id = hex.EncodeToString(sum[:4])
	return k, nil
}

// sealedSecrets is what a box holds: the secrets and the connection they belong to, so that a
// box copied onto another connection does not open.
type sealedSecrets struct {
	Connection string            `json:"connection"`
	Secrets    map[string]string `json:"secrets"`
}

// Seal encrypts secrets for the connection target/name.
func (k *Keyring) Seal(target, name string, secrets map[string]string) (*Sealed, error) {
	if k == nil {
		return nil, ErrNoKey
	}
	plain, err := json.Marshal(sealedSecrets{Connection: Key(target, name), Secrets: secrets})
	if err != nil {
		return nil, err
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return &Sealed{KeyID: k.id, Box: secretbox.Seal(nonce[:], plain, &nonce, &k.key)}, nil
}

// Open decrypts the secrets of the connection target/name.
func (k *Keyring) Open(target, name string, s *Sealed) (map[string]string, error) {
	if s == nil {
		return map[string]string{}, nil
	}
	if k == nil {
		return nil, ErrNoKey
	}
	if s.KeyID != k.id {
		return nil, fmt.Errorf("connections: the secrets of %s/%s were sealed with key %s, this process has key %s: give every worker and enqueue the same HRPUSH_SECRETS_KEY", target, name, s.KeyID, k.id)
	}
	if len(s.Box) < 24 {
		return nil, fmt.Errorf("connections: the secrets of %s/%s are truncated", target, name)
	}
	var nonce [24]byte
	copy(nonce[:], s.Box[:24])
	plain, ok := secretbox.Open(nil, s.Box[24:], &nonce, &k.key)
	if !ok {
		return nil, fmt.Errorf("connections: the secrets of %s/%s do not open with key %s (altered?)", target, name, k.id)
	}
	var ss sealedSecrets
	if err := json.Unmarshal(plain, &ss); err != nil {
		return nil, fmt.Errorf("connections: the secrets of %s/%s: %w", target, name, err)
	}
	if ss.Connection != Key(target, name) {
		return nil, fmt.Errorf("connections: the secrets stored on %s/%s belong to %s", target, name, ss.Connection)
	}
	return ss.Secrets, nil
}
