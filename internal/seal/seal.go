// Package seal owns encryption of secrets at rest (S3 secret keys): AES-256-GCM
// under the master key, which lives in the data dir or comes from
// STOWAGE_MASTER_KEY. It keeps no state beyond the key it is given.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sealer encrypts and decrypts small secrets.
type Sealer struct{ aead cipher.AEAD }

// New takes a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: master key must be 32 bytes, have %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// ParseKey accepts 32 bytes as 64 hex digits or standard base64.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("master key must be 32 bytes as 64 hex digits or base64")
}

// Seal encrypts plaintext; aad binds the ciphertext to its owner (for
// example the access key id) so rows cannot be swapped.
func (s *Sealer) Seal(plaintext, aad []byte) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, plaintext, aad)
	return "v1:" + base64.RawStdEncoding.EncodeToString(out)
}

// Open reverses Seal.
func (s *Sealer) Open(sealed string, aad []byte) ([]byte, error) {
	raw, ok := strings.CutPrefix(sealed, "v1:")
	if !ok {
		return nil, errors.New("seal: unknown format")
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, errors.New("seal: corrupt ciphertext")
	}
	pt, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return pt, nil
}
