package cli

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/stowage/stowage/internal/bytesize"
)

// S3's limits on multipart uploads.
const (
	maxParts    = 10000
	minPartSize = 5 << 20
)

// transfer moves files between the local disk and a bucket: one request
// for a small file, parts in parallel for a large one. Both directions
// resume. An upload continues the newest unfinished multipart upload of
// the same key and skips the parts whose size and MD5 already match; a
// download appends to a partial file named after the object's ETag (see
// partialFile).
type transfer struct {
	s3       *s3.Client
	partSize int64
	parallel int
	m        *meter
}

// copyJob is one file to move.
type copyJob struct {
	local  string
	remote s3URI
	size   int64
}

// result is one file moved, as cp reports it.
type result struct {
	Source string `json:"source"`
	Dest   string `json:"destination"`
	Bytes  int64  `json:"bytes"`
	// Parts is how many parts the object was moved in; 1 for a single
	// request.
	Parts int `json:"parts"`
	// Resumed is how many of the bytes an earlier, interrupted run had
	// already moved.
	Resumed int64  `json:"resumed_bytes"`
	ETag    string `json:"etag"`
}

// partSizeFor keeps a transfer within S3's part count.
func (t *transfer) partSizeFor(size int64) int64 {
	return max(t.partSize, (size+maxParts-1)/maxParts)
}

// run moves every job: large files one after another, each in parallel
// parts, then small files several at a time. Results keep the jobs' order.
func (t *transfer) run(ctx context.Context, jobs []copyJob, up bool) ([]result, error) {
	results := make([]result, len(jobs))
	one := func(ctx context.Context, i int) error {
		var err error
		if up {
			results[i], err = t.upload(ctx, jobs[i].local, jobs[i].remote)
		} else {
			results[i], err = t.download(ctx, jobs[i].remote, jobs[i].local)
		}
		return err
	}
	for i, j := range jobs {
		if j.size >= t.partSize {
			if err := one(ctx, i); err != nil {
				return nil, err
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.parallel)
	for i, j := range jobs {
		if j.size < t.partSize {
			g.Go(func() error { return one(gctx, i) })
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// unsignedPayload signs the headers of a request but not its body: the body
// carries Content-MD5 instead, and the SDK would otherwise read every part
// once more to hash it.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

func (t *transfer) upload(ctx context.Context, path string, dst s3URI) (result, error) {
	res := result{Source: path, Dest: dst.String()}
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, err
	}
	size := st.Size()
	res.Bytes = size
	var ctype *string
	if ct := mime.TypeByExtension(filepath.Ext(path)); ct != "" {
		ctype = aws.String(ct)
	}
	if size < t.partSize {
		sum, err := md5Section(f, 0, size)
		if err != nil {
			return res, err
		}
		out, err := t.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &dst.Bucket, Key: &dst.Key, ContentType: ctype,
			Body: &countedSection{SectionReader: io.NewSectionReader(f, 0, size), m: t.m}, ContentLength: aws.Int64(size),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum))}, unsignedPayload)
		if err != nil {
			return res, s3Err("upload "+dst.String(), err)
		}
		res.Parts, res.ETag = 1, unquote(out.ETag)
		if res.ETag != hex.EncodeToString(sum) {
			return res, fmt.Errorf("upload %s: the server's ETag %s is not the MD5 of what was sent", dst, res.ETag)
		}
		return res, nil
	}

	ps := t.partSizeFor(size)
	n := int((size + ps - 1) / ps)
	id, have, err := t.unfinished(ctx, dst)
	if err != nil {
		return res, err
	}
	if id == "" {
		out, err := t.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &dst.Bucket, Key: &dst.Key, ContentType: ctype})
		if err != nil {
			return res, s3Err("start upload of "+dst.String(), err)
		}
		id = aws.ToString(out.UploadId)
	}
	parts := make([]types.CompletedPart, n)
	var resumed atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.parallel)
	for i := range n {
		g.Go(func() error {
			off := int64(i) * ps
			ln := min(ps, size-off)
			num := int32(i + 1)
			sum, err := md5Section(f, off, ln)
			if err != nil {
				return err
			}
			tag := hex.EncodeToString(sum)
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(`"` + tag + `"`)}
			if p, ok := have[num]; ok && aws.ToInt64(p.Size) == ln && unquote(p.ETag) == tag {
				resumed.Add(ln)
				t.m.skip(ln)
				return nil
			}
			out, err := t.s3.UploadPart(gctx, &s3.UploadPartInput{Bucket: &dst.Bucket, Key: &dst.Key, UploadId: &id, PartNumber: aws.Int32(num),
				Body: &countedSection{SectionReader: io.NewSectionReader(f, off, ln), m: t.m}, ContentLength: aws.Int64(ln),
				ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum))}, unsignedPayload)
			if err != nil {
				return s3Err(fmt.Sprintf("upload part %d of %s", num, dst), err)
			}
			if got := unquote(out.ETag); got != tag {
				return fmt.Errorf("upload part %d of %s: the server's ETag %s is not the MD5 of what was sent", num, dst, got)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("%w; the parts sent are kept: run the same command again to resume", err)
	}
	// The server assembles the parts now, which takes a while for a
	// large object: the bar says so rather than sitting at its end.
	t.m.phase("completing…")
	out, err := t.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &dst.Bucket, Key: &dst.Key, UploadId: &id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	t.m.phase("")
	if err != nil {
		return res, s3Err("complete upload of "+dst.String(), err)
	}
	res.Parts, res.Resumed, res.ETag = n, resumed.Load(), unquote(out.ETag)
	return res, nil
}

// unfinished returns the newest multipart upload of dst's key that was
// never completed or aborted, and the parts it holds; no id when there is
// none.
func (t *transfer) unfinished(ctx context.Context, dst s3URI) (string, map[int32]types.Part, error) {
	var newest types.MultipartUpload
	ups := s3.NewListMultipartUploadsPaginator(t.s3, &s3.ListMultipartUploadsInput{Bucket: &dst.Bucket, Prefix: &dst.Key})
	for ups.HasMorePages() {
		page, err := ups.NextPage(ctx)
		if err != nil {
			return "", nil, s3Err("list unfinished uploads of "+dst.String(), err)
		}
		for _, u := range page.Uploads {
			if aws.ToString(u.Key) == dst.Key && (newest.UploadId == nil || aws.ToTime(u.Initiated).After(aws.ToTime(newest.Initiated))) {
				newest = u
			}
		}
	}
	if newest.UploadId == nil {
		return "", nil, nil
	}
	have := map[int32]types.Part{}
	ps := s3.NewListPartsPaginator(t.s3, &s3.ListPartsInput{Bucket: &dst.Bucket, Key: &dst.Key, UploadId: newest.UploadId})
	for ps.HasMorePages() {
		page, err := ps.NextPage(ctx)
		if err != nil {
			return "", nil, s3Err("list the parts of "+dst.String(), err)
		}
		for _, p := range page.Parts {
			have[aws.ToInt32(p.PartNumber)] = p
		}
	}
	return *newest.UploadId, have, nil
}

func (t *transfer) download(ctx context.Context, src s3URI, path string) (result, error) {
	res := result{Source: src.String(), Dest: path}
	head, err := t.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &src.Bucket, Key: &src.Key})
	if err != nil {
		return res, s3Err("download "+src.String(), err)
	}
	size, modified := aws.ToInt64(head.ContentLength), aws.ToTime(head.LastModified)
	res.Bytes, res.ETag = size, unquote(head.ETag)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return res, err
	}
	partial, err := partialFile(path, res.ETag)
	if err != nil {
		return res, err
	}
	var from int64
	if st, err := os.Stat(partial); err == nil && st.Mode().IsRegular() && st.Size() <= size {
		from = st.Size()
	}
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return res, err
	}
	defer f.Close()
	if err := f.Truncate(from); err != nil {
		return res, err
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return res, err
	}
	// A single-part object's ETag is its MD5, a multipart one's the MD5 of
	// its parts' MD5s, whose sizes HEAD ?partNumber tells; an ETag of
	// another kind (or a server that cannot tell part sizes) leaves the
	// size as the only check.
	sum := t.etagHasher(ctx, src, res.ETag)
	if sum != nil {
		if _, err := io.Copy(sum, io.NewSectionReader(f, 0, from)); err != nil {
			return res, err
		}
	}
	res.Resumed = from
	t.m.skip(from)
	ps := t.partSizeFor(size)
	res.Parts = max(1, int((size-from+ps-1)/ps))
	err = t.fetch(ctx, src, aws.ToString(head.ETag), from, size, func(b []byte) error {
		if _, err := f.Write(b); err != nil {
			return err
		}
		if sum != nil {
			sum.Write(b)
		}
		return nil
	})
	if err != nil {
		if isS3Code(err, "PreconditionFailed") {
			f.Close()
			os.Remove(partial)
			return res, fmt.Errorf("download %s: the object changed while it was being read; run the same command again", src)
		}
		return res, fmt.Errorf("%w; %s is kept: run the same command again to resume", err, partial)
	}
	if sum != nil && sum.etag() != res.ETag {
		f.Close()
		os.Remove(partial)
		return res, fmt.Errorf("download %s: what arrived does not match the object's ETag %s; removed %s", src, res.ETag, partial)
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	// The copy carries the object's time, as aws s3 cp leaves it.
	if err := os.Chtimes(partial, modified, modified); err != nil {
		return res, err
	}
	return res, os.Rename(partial, path)
}

// partialFile names the file a download of the object with etag to path
// goes to until it is complete: PATH.<hash of the ETag>.part, so that a run
// resumes only bytes of the same object. Partial files of other versions
// of the object are removed.
func partialFile(path, etag string) (string, error) {
	sum := sha256.Sum256([]byte(etag))
	name := filepath.Base(path) + "." + hex.EncodeToString(sum[:6]) + ".part"
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name() != name && isPartial(e.Name(), filepath.Base(path)) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return "", err
			}
		}
	}
	return filepath.Join(dir, name), nil
}

// isPartial reports whether name is a partial file of a download to base.
func isPartial(name, base string) bool {
	tag, ok := strings.CutPrefix(name, base+".")
	tag, ok2 := strings.CutSuffix(tag, ".part")
	_, err := hex.DecodeString(tag)
	return ok && ok2 && len(tag) == 12 && err == nil
}

// fetch reads bytes [from, size) of src in parallel ranges and hands them to
// write in order, so the file behind write only ever holds a prefix of the
// object. At most t.parallel ranges are being read or waiting their turn.
func (t *transfer) fetch(ctx context.Context, src s3URI, etag string, from, size int64, write func([]byte) error) error {
	ps := t.partSizeFor(size)
	n := int((size - from + ps - 1) / ps)
	if n <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	type chunk struct {
		b   []byte
		err error
	}
	ready := make([]chan chunk, n)
	for i := range ready {
		ready[i] = make(chan chunk, 1)
	}
	free := make(chan []byte, t.parallel)
	for range t.parallel {
		free <- nil
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			off := from + int64(i)*ps
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := t.getRange(ctx, src, etag, buf, off, min(ps, size-off))
				ready[i] <- chunk{b, err}
			}()
		}
	}()
	for i := range n {
		var c chunk
		select {
		case c = <-ready[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.err != nil {
			return c.err
		}
		if err := write(c.b); err != nil {
			return err
		}
		free <- c.b
	}
	return nil
}

// getRange reads n bytes of src at off into buf (grown as needed). A body
// cut short is asked for again from where it stopped, twice at most; If-Match
// makes sure every range comes from the same object.
func (t *transfer) getRange(ctx context.Context, src s3URI, etag string, buf []byte, off, n int64) ([]byte, error) {
	buf = slices.Grow(buf[:0], int(n))[:n]
	var got int64
	for failures := 0; got < n; {
		out, err := t.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &src.Bucket, Key: &src.Key, IfMatch: &etag,
			Range: aws.String(fmt.Sprintf("bytes=%d-%d", off+got, off+n-1))})
		if err != nil {
			return nil, s3Err("download "+src.String(), err)
		}
		k, err := t.readFull(out.Body, buf[got:])
		out.Body.Close()
		got += int64(k)
		if err != nil && got < n {
			if failures++; failures == 3 || ctx.Err() != nil {
				return nil, fmt.Errorf("download %s: %w", src, err)
			}
		}
	}
	return buf, nil
}

// readFull is io.ReadFull that counts what arrives as it arrives.
func (t *transfer) readFull(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		t.m.add(int64(k))
		if err != nil {
			if errors.Is(err, io.EOF) && n < len(b) {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}

func md5Section(f *os.File, off, n int64) ([]byte, error) {
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return h.Sum(nil), nil
}

func unquote(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }

// etagHasher returns what computes the object's ETag from its bytes, or
// nil when that cannot be known: an ETag that is not MD5-based, or part
// sizes the server does not tell.
func (t *transfer) etagHasher(ctx context.Context, src s3URI, etag string) *etagSum {
	if isMD5(etag) {
		return &etagSum{part: md5.New()}
	}
	sum, count, ok := strings.Cut(etag, "-")
	n, err := strconv.Atoi(count)
	if !ok || !isMD5(sum) || err != nil || n < 1 || n > maxParts {
		return nil
	}
	sizes := make([]int64, n)
	for i := range sizes {
		head, err := t.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &src.Bucket, Key: &src.Key, PartNumber: aws.Int32(int32(i + 1)),
			IfMatch: aws.String(`"` + etag + `"`)})
		if err != nil || aws.ToInt32(head.PartsCount) != int32(n) {
			return nil
		}
		sizes[i] = aws.ToInt64(head.ContentLength)
	}
	return &etagSum{part: md5.New(), all: md5.New(), sizes: sizes, left: sizes[0]}
}

// etagSum hashes an object's bytes in order into its ETag: the MD5 of a
// single-part object (sizes nil), or for a multipart one the MD5 of each
// part's MD5, in order, and the part count.
type etagSum struct {
	part, all hash.Hash
	sizes     []int64
	done      int   // parts hashed whole
	left      int64 // bytes the current part still needs
	extra     int64 // bytes beyond the last part
}

func (e *etagSum) Write(b []byte) (int, error) {
	n := len(b)
	if e.sizes == nil {
		return e.part.Write(b)
	}
	for {
		for e.done < len(e.sizes) && e.left == 0 {
			e.all.Write(e.part.Sum(nil))
			e.part.Reset()
			if e.done++; e.done < len(e.sizes) {
				e.left = e.sizes[e.done]
			}
		}
		if len(b) == 0 {
			return n, nil
		}
		if e.done == len(e.sizes) {
			e.extra += int64(len(b))
			return n, nil
		}
		k := min(int64(len(b)), e.left)
		e.part.Write(b[:k])
		b, e.left = b[k:], e.left-k
	}
}

func (e *etagSum) etag() string {
	if e.sizes == nil {
		return hex.EncodeToString(e.part.Sum(nil))
	}
	e.Write(nil) // closes a part that just filled
	if e.done < len(e.sizes) || e.extra > 0 {
		return "" // the bytes do not fill the parts exactly
	}
	return hex.EncodeToString(e.all.Sum(nil)) + "-" + strconv.Itoa(len(e.sizes))
}

func isMD5(etag string) bool {
	_, err := hex.DecodeString(etag)
	return len(etag) == 32 && err == nil
}

// rate is bytes per second as people read it.
func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return bytesize.Format(int64(float64(n)/d.Seconds())) + "/s"
}
