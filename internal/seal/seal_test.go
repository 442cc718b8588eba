package seal

import (
	"bytes"
	"strings"
	"testing"
)

func TestSealRoundTripAndTamper(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Seal([]byte("secret"), []byte("AKID"))
	if strings.Contains(c, "secret") {
		t.Fatalf("ciphertext shows plaintext: %s", c)
	}
	got, err := s.Open(c, []byte("AKID"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(c, []byte("OTHER")); err == nil {
		t.Fatal("ciphertext opened under another owner")
	}
	other, _ := New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(c, []byte("AKID")); err == nil {
		t.Fatal("ciphertext opened with another key")
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey(strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKey("short"); err == nil {
		t.Fatal("short key accepted")
	}
}
