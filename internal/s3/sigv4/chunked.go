package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/checksum"
)

// ChunkedOptions configures an aws-chunked decoder.
type ChunkedOptions struct {
	// Signed means every chunk carries a chunk-signature chained from Seed
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]); Key, Time and Scope
	// are the request's.
	Signed bool
	Key    []byte
	Time   time.Time
	Scope  Scope
	Seed   string
	// Trailers means trailing headers follow the last chunk (the -TRAILER
	// modes). With Signed, they end with x-amz-trailer-signature.
	Trailers bool
	// Trailer is the declared x-amz-trailer (e.g. "x-amz-checksum-crc32c");
	// when it names a checksum, the decoder computes it over the payload
	// and refuses a mismatch.
	Trailer string
	// DecodedLength is x-amz-decoded-content-length, or -1 when unknown.
	DecodedLength int64
	// MaxChunk bounds one chunk's declared size (default 64 MiB).
	MaxChunk int64
}

type chunkState int

const (
	stHeader chunkState = iota
	stData
	stDone
)

// maxLine bounds a chunk header or trailer line. Real ones are under 200
// bytes; the bound keeps a hostile body from growing our buffer.
const maxLine = 4096

// ChunkedReader decodes an aws-chunked body as an io.Reader without
// buffering more than one line. Chunk data is released as it arrives and
// verified when its chunk ends, so a consumer must treat what it has read as
// untrusted until Read returns io.EOF; any mismatch (chunk signature,
// trailer checksum, trailer signature, length) is reported as an error
// instead of io.EOF.
type ChunkedReader struct {
	o         ChunkedOptions
	br        *bufio.Reader
	state     chunkState
	remaining int64
	total     int64
	prev      string // previous signature in the chain
	pending   string // signature of the chunk being read
	chunkHash hash.Hash
	sum       hash.Hash // declared trailer checksum, computed over the payload
	sumAlgo   checksum.Algorithm
	trailers  map[string]string
	err       error
}

// NewChunkedReader decodes body according to o.
func NewChunkedReader(body io.Reader, o ChunkedOptions) *ChunkedReader {
	if o.MaxChunk <= 0 {
		o.MaxChunk = 64 << 20
	}
	c := &ChunkedReader{o: o, br: bufio.NewReaderSize(body, 64<<10), prev: o.Seed}
	if o.Signed {
		c.chunkHash = sha256.New()
	}
	if a, ok := checksum.FromHeader(o.Trailer); ok {
		c.sum, c.sumAlgo = a.New(), a
	}
	return c
}

// Trailers returns the trailing headers (lower-case names) once Read has
// returned io.EOF; nil before.
func (c *ChunkedReader) Trailers() map[string]string {
	if c.state != stDone || c.err != io.EOF {
		return nil
	}
	return c.trailers
}

func (c *ChunkedReader) fail(code, format string, args ...any) error {
	c.err = errorf(code, format, args...)
	return c.err
}

// readLine reads one CRLF-terminated line without the CRLF. A bare LF is
// refused: aws-chunked framing is CRLF, and accepting both invites
// ambiguity between what we verify and what a proxy sees.
func (c *ChunkedReader) readLine() (string, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLine {
		return "", c.fail(CodeInvalidRequest, "aws-chunked line too long")
	}
	if err != nil {
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			if len(line) == 0 {
				return "", io.EOF
			}
			return "", c.fail(CodeIncompleteBody, "the aws-chunked body ended inside a line")
		}
		c.err = err
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", c.fail(CodeInvalidRequest, "aws-chunked lines must end with CRLF")
	}
	return string(line[:len(line)-2]), nil
}

func (c *ChunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for {
		switch c.state {
		case stHeader:
			if err := c.readHeader(); err != nil {
				if err == io.EOF {
					return 0, c.fail(CodeIncompleteBody, "the aws-chunked body ended before its last chunk")
				}
				return 0, err
			}
			if c.state == stDone {
				return 0, c.err
			}
		case stData:
			if len(p) == 0 {
				return 0, nil
			}
			want := int64(len(p))
			if want > c.remaining {
				want = c.remaining
			}
			n, err := c.br.Read(p[:want])
			if n > 0 {
				c.remaining -= int64(n)
				c.total += int64(n)
				if c.chunkHash != nil {
					c.chunkHash.Write(p[:n])
				}
				if c.sum != nil {
					c.sum.Write(p[:n])
				}
				if c.o.DecodedLength >= 0 && c.total > c.o.DecodedLength {
					return n, c.fail(CodeIncompleteBody, "the aws-chunked body is longer than x-amz-decoded-content-length")
				}
			}
			if c.remaining == 0 {
				if e := c.endChunk(); e != nil {
					return n, e
				}
			}
			if err != nil && c.remaining > 0 {
				if err == io.EOF {
					return n, c.fail(CodeIncompleteBody, "the aws-chunked body ended inside a chunk")
				}
				c.err = err
				return n, err
			}
			if n > 0 {
				return n, nil
			}
		case stDone:
			return 0, c.err
		}
	}
}

// readHeader parses "<hex size>[;chunk-signature=<sig>]".
func (c *ChunkedReader) readHeader() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	sizeText, ext, hasExt := strings.Cut(line, ";")
	size, perr := strconv.ParseInt(sizeText, 16, 64)
	if perr != nil || size < 0 || sizeText == "" || len(sizeText) > 16 {
		return c.fail(CodeInvalidRequest, "malformed aws-chunked chunk size")
	}
	if size > c.o.MaxChunk {
		return c.fail(CodeInvalidRequest, "aws-chunked chunk larger than %d bytes", c.o.MaxChunk)
	}
	if c.o.Signed {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !hasExt || !ok {
			return c.fail(CodeSignatureDoesNotMatch, "aws-chunked chunk without a chunk-signature")
		}
		if _, err := parseSignature(sig, CodeSignatureDoesNotMatch); err != nil {
			c.err = err
			return err
		}
		c.pending = sig
		c.chunkHash.Reset()
	}
	if size > 0 {
		c.state, c.remaining = stData, size
		return nil
	}
	// The zero-length chunk ends the payload; its signature still chains.
	if err := c.verifyChunk(); err != nil {
		return err
	}
	return c.finish()
}

// endChunk consumes the CRLF after chunk data and verifies the chunk.
func (c *ChunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return c.fail(CodeIncompleteBody, "the aws-chunked body ended after chunk data")
	}
	if crlf != [2]byte{'\r', '\n'} {
		return c.fail(CodeInvalidRequest, "aws-chunked chunk data is not followed by CRLF")
	}
	if err := c.verifyChunk(); err != nil {
		return err
	}
	c.state = stHeader
	return nil
}

func (c *ChunkedReader) verifyChunk() error {
	if !c.o.Signed {
		return nil
	}
	sts := ChunkStringToSign(c.o.Time, c.o.Scope, c.prev, hex.EncodeToString(c.chunkHash.Sum(nil)))
	if !Equal(Sign(c.o.Key, sts), c.pending) {
		return c.fail(CodeSignatureDoesNotMatch, "the chunk signature we calculated does not match the signature you provided")
	}
	c.prev = c.pending
	return nil
}

// finish reads what follows the last chunk: trailing headers (and their
// signature) in the -TRAILER modes, then the closing empty line.
func (c *ChunkedReader) finish() error {
	c.trailers = map[string]string{}
	var canonical bytes.Buffer
	var trailerSig string
	for {
		line, err := c.readLine()
		if err == io.EOF {
			// Some clients omit the closing CRLF; the framing is complete.
			break
		}
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		if !c.o.Trailers {
			return c.fail(CodeInvalidRequest, "unexpected data after the last aws-chunked chunk")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return c.fail(CodeInvalidRequest, "malformed aws-chunked trailer")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			trailerSig = value
			continue
		}
		if len(c.trailers) >= 16 {
			return c.fail(CodeInvalidRequest, "too many aws-chunked trailers")
		}
		c.trailers[name] = value
		canonical.WriteString(name + ":" + value + "\n")
	}
	if c.o.Signed && c.o.Trailers {
		if _, err := parseSignature(trailerSig, CodeSignatureDoesNotMatch); err != nil {
			c.err = err
			return err
		}
		sts := TrailerStringToSign(c.o.Time, c.o.Scope, c.prev, canonical.String())
		if !Equal(Sign(c.o.Key, sts), trailerSig) {
			return c.fail(CodeSignatureDoesNotMatch, "the trailer signature we calculated does not match the signature you provided")
		}
	}
	if c.o.DecodedLength >= 0 && c.total != c.o.DecodedLength {
		return c.fail(CodeIncompleteBody, "the aws-chunked body is shorter than x-amz-decoded-content-length")
	}
	if c.sum != nil {
		got, ok := c.trailers[c.o.Trailer]
		if !ok {
			return c.fail(CodeInvalidRequest, "the declared trailer %s was not sent", c.o.Trailer)
		}
		if want := checksum.Encode(c.sum.Sum(nil)); got != want {
			return c.fail(CodeBadDigest, "the %s you specified did not match the calculated checksum", c.sumAlgo)
		}
	}
	c.state = stDone
	c.err = io.EOF
	return nil
}
