package cloudsigma

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// Drive upload, as pycloudsigma's upload client does it: POST /initupload/
// makes a drive in status uploading for an image of the given size; then,
// for each chunk, POST /drives/{uuid}/action/?do=upload_chunk with
// {"chunk_number": n, "chunk_size": s} answers the link to POST the raw
// bytes of that chunk to (416 when the chunk is already uploaded, which is
// how a client resumes); chunks count from 0 and the last one takes the
// rest of the image, so it is up to twice as large. When every byte is in,
// the drive is unmounted. Unlike CloudSigma's, the link needs the same
// credentials as any call (clients send them) and does not expire: it only
// names a byte range.

// exactSize reads the image size of an initupload: bytes, not rounded as
// a drive's size is, because the whole image must fit exactly.
func exactSize(raw json.RawMessage) (int64, error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m["size"] == nil {
		return 0, required("size")
	}
	var s string
	if json.Unmarshal(m["size"], &s) != nil {
		s = string(m["size"])
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, newError(http.StatusBadRequest, "validation", "size", "size must be the image's size in bytes")
	}
	return n, nil
}

func (a *API) initUpload(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	raws, err := a.readObjects(r, "size")
	if err != nil {
		return err
	}
	if len(raws) != 1 {
		return newError(http.StatusBadRequest, "validation", "objects", "Initialise one upload at a time")
	}
	in, bad := parseDrive(raws[0], false)
	if len(bad) > 0 {
		return apiError{http.StatusBadRequest, bad}
	}
	size, err := exactSize(raws[0])
	if err != nil {
		return err
	}
	st := defaultStorageType
	if in.storageType != nil {
		st = *in.storageType
	}
	t, err := a.checkStorageType(st)
	if err != nil {
		return err
	}
	c := volume.Create{ProjectID: project, Name: "Upload", Media: volume.MediaDisk, Type: t.Name, Size: size, Upload: true}
	if in.name != nil {
		c.Name = *in.name
	}
	if in.media != nil {
		c.Media = *in.media
	}
	if in.meta != nil {
		c.Metadata = keepRDS(*in.meta, nil)
	}
	if in.tags != nil {
		c.Tags = *in.tags
	}
	if in.multimount != nil {
		c.MultiAttach = *in.multimount
	}
	v, _, err := a.volumes.CreateVolume(r.Context(), httpapi.Principal(r.Context()), c)
	if err != nil {
		if errs.Is(err, errs.NoSpace) {
			return newError(http.StatusServiceUnavailable, "backend", "", "We currently cannot provide enough resources to create a %s drive", st)
		}
		return fmt.Errorf("initialise upload: %w", err)
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"objects": []any{d.full(v)}})
	return nil
}

// chunkRange is where chunk n of size s lies in an image of total bytes;
// the last chunk takes the rest.
func chunkRange(n, s, total int64) (volume.Range, bool) {
	chunks := max(total/s, 1)
	if n < 0 || n >= chunks {
		return volume.Range{}, false
	}
	rg := volume.Range{Off: n * s, Len: s}
	if n == chunks-1 {
		rg.Len = total - rg.Off
	}
	return rg, true
}

// uploadChunkLink answers where to send a chunk, or 416 when it is in.
func (a *API) uploadChunkLink(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	v, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	body, err := a.readBody(r)
	if err != nil {
		return err
	}
	var in struct {
		Number *int64 `json:"chunk_number"`
		Size   *int64 `json:"chunk_size"`
	}
	if body == nil || json.Unmarshal(body, &in) != nil {
		return required("chunk_number")
	}
	if in.Number == nil {
		return required("chunk_number")
	}
	if in.Size == nil || *in.Size <= 0 {
		return newError(http.StatusBadRequest, "validation", "chunk_size", "chunk_size must be a positive number of bytes")
	}
	if s := status(v); s != stUploading {
		return stateError("upload to", s, stUploading)
	}
	u, err := a.volumes.GetUpload(r.Context(), httpapi.Principal(r.Context()), v.ID)
	if err != nil {
		return err
	}
	rg, ok := chunkRange(*in.Number, *in.Size, u.Total)
	if !ok {
		return newError(http.StatusBadRequest, "validation", "chunk_number", "Chunk %d of %d bytes is outside the image of %d bytes", *in.Number, *in.Size, u.Total)
	}
	if u.Has(rg) {
		return newError(http.StatusRequestedRangeNotSatisfiable, "validation", "chunk_number", "Chunk %d is already uploaded", *in.Number)
	}
	writeJSON(w, http.StatusOK, map[string]any{"link": fmt.Sprintf("/api/2.0/drives/%s/upload/%d-%d/", v.ID, rg.Off, rg.Len)})
	return nil
}

// uploadChunk streams a chunk's raw bytes into the drive; the body is
// not read into memory and not bound by the JSON body limit.
func (a *API) uploadChunk(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	v, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	offS, lenS, _ := strings.Cut(r.PathValue("range"), "-")
	off, err1 := strconv.ParseInt(offS, 10, 64)
	n, err2 := strconv.ParseInt(lenS, 10, 64)
	if err1 != nil || err2 != nil {
		return notExist(r.PathValue("range"))
	}
	if r.ContentLength >= 0 && r.ContentLength != n {
		return newError(http.StatusBadRequest, "validation", "", "The chunk must be %d bytes; the body has %d", n, r.ContentLength)
	}
	if s := status(v); s != stUploading {
		return stateError("upload to", s, stUploading)
	}
	_, err = a.volumes.WriteUpload(r.Context(), httpapi.Principal(r.Context()), v.ID, volume.Range{Off: off, Len: n}, r.Body)
	if errs.Is(err, errs.Exist) {
		return newError(http.StatusRequestedRangeNotSatisfiable, "validation", "", "Bytes %d-%d are already uploaded", off, off+n)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// uploadWhole is CloudSigma's one-request upload (POST /drives/upload/,
// as curl --upload-file sends it): the body is the whole raw image, its
// Content-Length the drive's size, and the answer the new drive's uuid as
// plain text. A body that ends early leaves no drive behind.
func (a *API) uploadWhole(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	if r.ContentLength <= 0 {
		return newError(http.StatusLengthRequired, "validation", "", "Content-Length is required: it is the size of the drive")
	}
	p := httpapi.Principal(r.Context())
	t, err := a.checkStorageType(defaultStorageType)
	if err != nil {
		return err
	}
	v, _, err := a.volumes.CreateVolume(r.Context(), p, volume.Create{ProjectID: project, Name: "Upload_" + a.now().UTC().Format("2006-01-02 15:04:05"),
		Media: volume.MediaDisk, Type: t.Name, Size: r.ContentLength, Upload: true})
	if err != nil {
		return fmt.Errorf("upload drive: %w", err)
	}
	if _, err := a.volumes.WriteUpload(r.Context(), p, v.ID, volume.Range{Off: 0, Len: r.ContentLength}, r.Body); err != nil {
		if _, derr := a.volumes.DeleteVolume(r.Context(), p, v.ID, false); derr != nil {
			a.log.Warn("remove failed upload", "volume", v.ID, "err", derr)
		}
		return fmt.Errorf("upload drive %s: %w", v.ID, err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = fmt.Fprintln(w, v.ID)
	return err
}

// The resumable.js protocol, as pycloudsigma's resumable upload and
// browsers send it: GET /drives/{uuid}/upload/ with the chunk's
// resumable* parameters answers 200 when the chunk is in (and 404 when it
// is not), and POST of a multipart form with those fields and then the
// chunk as the part named "file" streams it in. Chunks count from 1 and
// the last takes the rest of the image.

// resumableChunk reads the chunk's place from the resumable* values and
// checks it against the upload.
func resumableChunk(get func(string) string, u volume.Upload) (n int64, rg volume.Range, err error) {
	num := func(k string) (int64, error) {
		v, err := strconv.ParseInt(get(k), 10, 64)
		if err != nil || v <= 0 {
			return 0, newError(http.StatusBadRequest, "validation", k, "%s must be a positive integer", k)
		}
		return v, nil
	}
	if n, err = num("resumableChunkNumber"); err != nil {
		return 0, rg, err
	}
	size, err := num("resumableChunkSize")
	if err != nil {
		return 0, rg, err
	}
	total, err := num("resumableTotalSize")
	if err != nil {
		return 0, rg, err
	}
	if total != u.Total {
		return 0, rg, newError(http.StatusBadRequest, "validation", "resumableTotalSize", "The image is %d bytes, not %d", u.Total, total)
	}
	rg, ok := chunkRange(n-1, size, total)
	if !ok {
		return 0, rg, newError(http.StatusBadRequest, "validation", "resumableChunkNumber", "Chunk %d of %d bytes is outside the image of %d bytes", n, size, total)
	}
	return n, rg, nil
}

// uploadingDrive loads a drive of the account that an upload is filling,
// with its upload.
func (a *API) uploadingDrive(r *http.Request) (volume.Upload, error) {
	project, err := a.account(r.Context())
	if err != nil {
		return volume.Upload{}, err
	}
	v, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return volume.Upload{}, err
	}
	if s := status(v); s != stUploading {
		return volume.Upload{}, stateError("upload to", s, stUploading)
	}
	return a.volumes.GetUpload(r.Context(), httpapi.Principal(r.Context()), v.ID)
}

func (a *API) resumableTest(w http.ResponseWriter, r *http.Request) error {
	u, err := a.uploadingDrive(r)
	if err != nil {
		return err
	}
	n, rg, err := resumableChunk(r.URL.Query().Get, u)
	if err != nil {
		return err
	}
	if !u.Has(rg) {
		return newError(http.StatusNotFound, "notexist", "", "Chunk %d is not uploaded", n)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

func (a *API) resumableUpload(w http.ResponseWriter, r *http.Request) error {
	u, err := a.uploadingDrive(r)
	if err != nil {
		return err
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return newError(http.StatusBadRequest, "validation", "", "The chunk must be sent as multipart/form-data")
	}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err != nil {
			return newError(http.StatusBadRequest, "validation", "file", "The form has no file part")
		}
		if part.FormName() != "file" {
			// The resumable* fields are short; a field is capped at 64 bytes.
			b, _ := io.ReadAll(io.LimitReader(part, 64))
			fields[part.FormName()] = string(b)
			continue
		}
		_, rg, err := resumableChunk(func(k string) string { return fields[k] }, u)
		if err != nil {
			return err
		}
		if !u.Has(rg) {
			_, err = a.volumes.WriteUpload(r.Context(), httpapi.Principal(r.Context()), u.VolumeID, rg, part)
		}
		if errs.Is(err, errs.Exist) {
			return newError(http.StatusRequestedRangeNotSatisfiable, "validation", "", "Bytes %d-%d overlap bytes already uploaded", rg.Off, rg.End())
		}
		if err != nil {
			return err
		}
		// A chunk already in is a success: resumable.js retries chunks.
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
}
