package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/s3"
)

// bucketIO gives the volume service (images, backups) the objects of a
// project's own buckets by serving in-process S3 requests as that project
// (s3.Handler.ServeAs): the same authorisation, quota, versioning and
// encryption as a client of the project gets, and no credential to keep.
type bucketIO struct {
	h *s3.Handler
	// partSize is the part size of objects written as multipart uploads:
	// those larger than it, and those of unknown size. Zero means
	// defaultPartSize.
	partSize int64
}

// defaultPartSize streams parts of a gigabyte: parts are never held in
// memory, so only the 10,000-part limit bounds them from below, and 10 TiB
// covers any volume.
const defaultPartSize int64 = 1 << 30

// call serves one request and returns the response with a streaming body
// (the handler runs in its own goroutine until the body is read or
// closed). A status of 300 or more is turned into an error of the
// matching kind.
func (b bucketIO) call(ctx context.Context, project, method, bucket, key string, q url.Values, hdr http.Header, body io.Reader, size int64) (*http.Response, error) {
	u := &url.URL{Path: "/" + bucket}
	if key != "" {
		u.Path += "/" + key
	}
	u.RawQuery = q.Encode()
	r, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	r.URL.Path, r.URL.RawPath = u.Path, "" // keys are used as given, never re-decoded
	r.RequestURI = u.RequestURI()
	r.RemoteAddr = "127.0.0.1:0"
	for k, v := range hdr {
		r.Header[k] = v
	}
	// Transfers use the project's own buckets only: not another project's
	// that happens to be public or shared with it.
	r.Header.Set("X-Amz-Expected-Bucket-Owner", project)
	if body != nil {
		if size >= 0 {
			r.ContentLength = size
			r.Header.Set("Content-Length", strconv.FormatInt(size, 10))
		} else {
			r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
		}
	}
	pr, pw := io.Pipe()
	w := &pipeResponse{hdr: http.Header{}, body: pw, ready: make(chan struct{})}
	go func() {
		b.h.ServeAs(w, r, project)
		w.WriteHeader(http.StatusOK) // nothing written: an empty 200
		pw.Close()
	}()
	select {
	case <-w.ready:
	case <-ctx.Done():
		pr.CloseWithError(ctx.Err())
		return nil, ctx.Err()
	}
	resp := &http.Response{StatusCode: w.code, Header: w.hdr, Body: pr}
	if w.code < 300 {
		return resp, nil
	}
	defer pr.Close()
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	raw, _ := io.ReadAll(io.LimitReader(pr, 64<<10))
	_ = xml.Unmarshal(raw, &e)
	msg := fmt.Sprintf("bucket %s: %s %s", bucket, e.Code, e.Message)
	switch {
	case w.code == http.StatusNotFound:
		return nil, errs.E(errs.NotExist, "%s", msg)
	case w.code == http.StatusForbidden:
		return nil, errs.E(errs.Permission, "%s", msg)
	case e.Code == "QuotaExceeded" || w.code == http.StatusInsufficientStorage:
		return nil, errs.E(errs.Quota, "%s", msg)
	case w.code == http.StatusConflict:
		return nil, errs.E(errs.Conflict, "%s", msg)
	case w.code < 500:
		return nil, errs.E(errs.Invalid, "%s", msg)
	}
	return nil, fmt.Errorf("%s (status %d)", msg, w.code)
}

// pipeResponse is a ResponseWriter whose body streams into a pipe; ready
// closes at the first WriteHeader.
type pipeResponse struct {
	hdr   http.Header
	body  *io.PipeWriter
	once  sync.Once
	code  int
	ready chan struct{}
}

func (w *pipeResponse) Header() http.Header { return w.hdr }

func (w *pipeResponse) WriteHeader(code int) {
	w.once.Do(func() {
		w.code = code
		w.hdr = w.hdr.Clone() // the handler may keep changing its map
		close(w.ready)
	})
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (b bucketIO) Stat(ctx context.Context, project, bucket, key string) (int64, error) {
	resp, err := b.call(ctx, project, http.MethodHead, bucket, key, nil, nil, nil, 0)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
}

func (b bucketIO) Get(ctx context.Context, project, bucket, key string, off, length int64) (io.ReadCloser, error) {
	hdr := http.Header{}
	switch {
	case length > 0:
		hdr.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case length < 0 && off > 0:
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", off))
	case length == 0:
		return io.NopCloser(strings.NewReader("")), nil
	}
	resp, err := b.call(ctx, project, http.MethodGet, bucket, key, nil, hdr, nil, 0)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Put stores r as one object: a single PUT when its size is known and at
// most a part, else a multipart upload whose parts stream from r in turn
// (so any size works, up to 10,000 parts). A failed multipart upload is
// aborted: nothing is visible and no part is left to count.
func (b bucketIO) Put(ctx context.Context, project, bucket, key string, r io.Reader, size int64) error {
	part := defaultPartSize
	if b.partSize > 0 {
		part = min(max(b.partSize, s3.MinPartSize), s3.MaxPutSize)
	}
	if size >= 0 && size <= part {
		resp, err := b.call(ctx, project, http.MethodPut, bucket, key, nil, nil, r, size)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	if size > 0 {
		part = max(part, (size+maxParts-1)/maxParts)
	}
	resp, err := b.call(ctx, project, http.MethodPost, bucket, key, url.Values{"uploads": {""}}, nil, nil, 0)
	if err != nil {
		return err
	}
	var up struct {
		UploadID string `xml:"UploadId"`
	}
	err = xml.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&up)
	resp.Body.Close()
	if err != nil || up.UploadID == "" {
		return fmt.Errorf("start multipart upload of %s/%s: %v", bucket, key, err)
	}
	if err := b.putParts(ctx, project, bucket, key, up.UploadID, r, size, part); err != nil {
		q := url.Values{"uploadId": {up.UploadID}}
		if resp, aerr := b.call(context.WithoutCancel(ctx), project, http.MethodDelete, bucket, key, q, nil, nil, 0); aerr == nil {
			resp.Body.Close()
		}
		return err
	}
	return nil
}

// maxParts is S3's limit on the parts of one upload.
const maxParts = 10000

// putParts uploads r as the parts of an upload and completes it. With
// size < 0 each part goes with chunked encoding, and the stream's end is
// seen by a short part or by peeking before the next one.
func (b bucketIO) putParts(ctx context.Context, project, bucket, key, uploadID string, r io.Reader, size, part int64) error {
	type done struct {
		Number int    `xml:"PartNumber"`
		ETag   string `xml:"ETag"`
	}
	var parts []done
	br := bufio.NewReader(r)
	for off, n := int64(0), 1; ; n++ {
		if n > maxParts {
			return errs.E(errs.TooLarge, "object %s/%s needs more than %d parts of %d bytes", bucket, key, maxParts, part)
		}
		length := part
		if size >= 0 {
			length = min(part, size-off)
		}
		cr := &countReader{r: io.LimitReader(br, part)}
		q := url.Values{"partNumber": {strconv.Itoa(n)}, "uploadId": {uploadID}}
		sent := length
		if size < 0 {
			sent = -1
		}
		resp, err := b.call(ctx, project, http.MethodPut, bucket, key, q, nil, cr, sent)
		if err != nil {
			return fmt.Errorf("part %d of %s/%s: %w", n, bucket, key, err)
		}
		resp.Body.Close()
		parts = append(parts, done{n, resp.Header.Get("ETag")})
		off += cr.n
		if size >= 0 && off >= size || cr.n < part {
			break
		}
		if _, err := br.Peek(1); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	body, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"CompleteMultipartUpload"`
		Parts   []done   `xml:"Part"`
	}{Parts: parts})
	if err != nil {
		return err
	}
	resp, err := b.call(ctx, project, http.MethodPost, bucket, key, url.Values{"uploadId": {uploadID}}, nil, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return fmt.Errorf("complete multipart upload of %s/%s: %w", bucket, key, err)
	}
	return resp.Body.Close()
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

func (b bucketIO) Delete(ctx context.Context, project, bucket, key string) error {
	resp, err := b.call(ctx, project, http.MethodDelete, bucket, key, nil, nil, nil, 0)
	if errs.Is(err, errs.NotExist) && key != "" {
		return nil
	}
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (b bucketIO) List(ctx context.Context, project, bucket, prefix string) ([]string, error) {
	var keys []string
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		resp, err := b.call(ctx, project, http.MethodGet, bucket, "", q, nil, nil, 0)
		if err != nil {
			return nil, err
		}
		var res struct {
			Contents []struct {
				Key string `xml:"Key"`
			} `xml:"Contents"`
			IsTruncated bool   `xml:"IsTruncated"`
			Next        string `xml:"NextContinuationToken"`
		}
		err = xml.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("list bucket %s: %w", bucket, err)
		}
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		if !res.IsTruncated || res.Next == "" {
			return keys, nil
		}
		token = res.Next
	}
}
