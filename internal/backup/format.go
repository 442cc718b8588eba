package backup

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/stowage/stowage/internal/errs"
)

// Version is the format version written in every manifest.
const Version = 1

const (
	manifestMagic = "STWBKMF1"
	entrySize     = 24 // chunk u64, pack u32, offset u64, length u32
	nonceSize     = 12
	// maxManifest bounds a manifest read from a bucket (which anyone with
	// write access to it may have replaced): 64 TiB of 64 KiB chunks.
	maxManifest = 1 << 30
)

// Header is a manifest's description of its backup.
type Header struct {
	Version   int       `json:"version"`
	ID        string    `json:"id"`
	Set       string    `json:"set"`    // the backup set: one volume's backups
	Parent    string    `json:"parent"` // the backup this one was made against; "" for a full one
	Created   time.Time `json:"created"`
	Size      int64     `json:"size"`       // volume bytes
	ChunkSize int64     `json:"chunk_size"` // bytes per chunk
	Packs     []string  `json:"packs"`      // pack ids the entries refer to
	// Stored is the bytes of chunk records this backup wrote; Chunks is
	// how many chunks it lists.
	Stored int64 `json:"stored"`
	Chunks int64 `json:"chunks"`
}

// Entry locates one chunk's record.
type Entry struct {
	Chunk  int64
	Pack   uint32 // index into Header.Packs
	Offset int64
	Length uint32
}

// Manifest is one backup: its header and its chunks, sorted by Chunk.
type Manifest struct {
	Header
	Entries []Entry
}

// sealer encrypts records and manifests of one set.
type sealer struct {
	aead cipher.AEAD
	set  string
}

func newSealer(key []byte, set string) (*sealer, error) {
	if len(key) != 32 {
		return nil, errs.E(errs.Invalid, "backup key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, set: set}, nil
}

// aad binds a sealed object to its role, set and position: a record
// moved to another chunk, or into another set, fails to open.
func (s *sealer) aad(kind string, n uint64, id string) []byte {
	b := append([]byte("stowage backup "+kind+" v1\x00"), s.set...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, n)
	return append(b, id...)
}

func (s *sealer) seal(dst, plain, aad []byte) []byte {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	dst = append(dst, nonce...)
	return s.aead.Seal(dst, nonce, plain, aad)
}

func (s *sealer) open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < nonceSize+s.aead.Overhead() {
		return nil, errs.E(errs.Invalid, "backup object is truncated")
	}
	out, err := s.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, "backup object fails authentication (wrong key, or changed in the bucket)", err)
	}
	return out, nil
}

// codec compresses chunk records and manifests.
type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newCodec(maxOut int64) (*codec, error) {
	// EncodeAll runs on every backup worker at once.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(maxOut)))
	if err != nil {
		return nil, err
	}
	return &codec{enc: enc, dec: dec}, nil
}

func (c *codec) close() { c.dec.Close() }

// encodeManifest serialises, compresses and seals m.
func encodeManifest(s *sealer, c *codec, m *Manifest) ([]byte, error) {
	hdr, err := json.Marshal(m.Header)
	if err != nil {
		return nil, err
	}
	body := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(hdr)+entrySize*len(m.Entries)), uint32(len(hdr)))
	body = append(body, hdr...)
	for _, e := range m.Entries {
		body = binary.BigEndian.AppendUint64(body, uint64(e.Chunk))
		body = binary.BigEndian.AppendUint32(body, e.Pack)
		body = binary.BigEndian.AppendUint64(body, uint64(e.Offset))
		body = binary.BigEndian.AppendUint32(body, e.Length)
	}
	out := []byte(manifestMagic)
	return s.seal(out, c.enc.EncodeAll(body, nil), s.aad("manifest", 0, m.ID)), nil
}

// decodeManifest opens a manifest of backup id and checks it describes
// that backup of this set.
func decodeManifest(s *sealer, c *codec, id string, b []byte) (*Manifest, error) {
	if !bytes.HasPrefix(b, []byte(manifestMagic)) {
		return nil, errs.E(errs.Invalid, "backup %s: not a manifest", id)
	}
	comp, err := s.open(b[len(manifestMagic):], s.aad("manifest", 0, id))
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	body, err := c.dec.DecodeAll(comp, nil)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, "backup "+id+": manifest does not decompress", err)
	}
	bad := func(what string) error { return errs.E(errs.Invalid, "backup %s: manifest %s", id, what) }
	if len(body) < 4 {
		return nil, bad("is truncated")
	}
	hl := binary.BigEndian.Uint32(body)
	if uint64(hl)+4 > uint64(len(body)) {
		return nil, bad("header is truncated")
	}
	m := &Manifest{}
	if err := json.Unmarshal(body[4:4+hl], &m.Header); err != nil {
		return nil, bad("header is malformed")
	}
	if m.Version != Version || m.ID != id || m.Set != s.set || m.ChunkSize <= 0 || m.Size < 0 {
		return nil, bad("header does not describe this backup")
	}
	rest := body[4+hl:]
	if len(rest)%entrySize != 0 {
		return nil, bad("entries are truncated")
	}
	m.Entries = make([]Entry, len(rest)/entrySize)
	prev := int64(-1)
	for i := range m.Entries {
		r := rest[i*entrySize:]
		e := Entry{Chunk: int64(binary.BigEndian.Uint64(r)), Pack: binary.BigEndian.Uint32(r[8:]),
			Offset: int64(binary.BigEndian.Uint64(r[12:])), Length: binary.BigEndian.Uint32(r[20:])}
		if e.Chunk <= prev || e.Chunk*m.ChunkSize >= m.Size || int(e.Pack) >= len(m.Packs) || e.Offset < 0 {
			return nil, bad("entries are out of order or out of range")
		}
		prev = e.Chunk
		m.Entries[i] = e
	}
	return m, nil
}

// readAllLimit reads r up to limit bytes, failing beyond.
func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errs.E(errs.Invalid, "backup object exceeds %d bytes", limit)
	}
	return b, nil
}
