package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// tokenPrefix marks Stowage API tokens so leaked ones are easy to grep for.
const tokenPrefix = "stw_"

// newToken returns a fresh 256-bit token and its stored hash.
func newToken() (raw, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	raw = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return raw, hashToken(raw)
}

// hashToken is a plain SHA-256: tokens carry 256 bits of entropy, so a slow
// hash adds nothing but latency on every request.
func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// randomPassword returns a password for generated accounts.
func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Argon2id parameters: OWASP's minimum (19 MiB, t=2), enough to make offline
// guessing expensive while a login stays around 30 ms on this hardware.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// PasswordCost is Argon2id's cost for new password hashes: Time passes
// over MemoryKiB of memory. The zero value is OWASP's minimum. A stored
// hash carries its own cost, so changing it never locks anyone out.
type PasswordCost struct {
	Time      uint32
	MemoryKiB uint32
}

func (c PasswordCost) orDefault() PasswordCost {
	if c.Time == 0 || c.MemoryKiB == 0 {
		return PasswordCost{Time: argonTime, MemoryKiB: argonMemory}
	}
	return c
}

func hashPassword(pw string, c PasswordCost) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, c.Time, c.MemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", c.MemoryKiB, c.Time, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// checkPassword verifies pw against an encoded hash in constant time. An
// empty or malformed hash never matches but still costs one derivation, so
// unknown users take as long as wrong passwords.
func checkPassword(encoded, pw string) bool {
	var m, t uint32
	var p uint8
	parts := strings.Split(encoded, "$")
	ok := len(parts) == 6 && parts[1] == "argon2id"
	if ok {
		_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p)
		ok = err == nil && m > 0 && m <= 1<<20 && t > 0 && t <= 10 && p > 0
	}
	var salt, want []byte
	if ok {
		var err1, err2 error
		salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
		want, err2 = base64.RawStdEncoding.DecodeString(parts[5])
		ok = err1 == nil && err2 == nil && len(want) > 0
	}
	if !ok {
		m, t, p, salt, want = argonMemory, argonTime, argonThreads, make([]byte, 16), make([]byte, argonKeyLen)
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1 && ok
}

// jwtClaims are the claims of the session tokens handed out by login
// endpoints (HPC-AI's AccessToken cookie among them).
type jwtClaims struct {
	ID      string `json:"jti"`
	Subject string `json:"sub"`
	// Audience holds the face the session belongs to first, then any
	// names the face's clients look for (a list, as RFC 7519 allows).
	Audience   []string `json:"aud"`
	Issuer     string   `json:"iss,omitempty"`
	Groups     []string `json:"group,omitempty"`
	Generation int64    `json:"gen"` // the user's sessions generation at issue
	Project    string   `json:"prj,omitempty"`
	IssuedAt   int64    `json:"iat"`
	ExpiresAt  int64    `json:"exp"`
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

func signJWT(key []byte, c jwtClaims) string {
	body, _ := json.Marshal(c)
	msg := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return msg + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

var errBadJWT = errors.New("malformed or unsigned session token")

// parseJWT accepts only HS256 tokens signed with key; the header must be
// exactly ours, which rules out "alg: none" and algorithm confusion.
func parseJWT(key []byte, raw string, now time.Time) (jwtClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return jwtClaims{}, errBadJWT
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return jwtClaims{}, errBadJWT
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return jwtClaims{}, errBadJWT
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c jwtClaims
	if err == nil {
		err = json.Unmarshal(body, &c)
	}
	if err != nil || c.Subject == "" {
		return jwtClaims{}, errBadJWT
	}
	if now.Unix() >= c.ExpiresAt {
		return jwtClaims{}, errors.New("session token expired")
	}
	return c, nil
}
