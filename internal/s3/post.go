package s3

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/checksum"
	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/s3/sigv4"
)

// Browser uploads: POST /bucket with a multipart/form-data body whose
// fields name the key, headers and a signed policy, and whose last part is
// the file. The policy (base64 JSON: expiration and conditions) is signed
// with the key's secret, as SigV4 (x-amz-algorithm, x-amz-credential,
// x-amz-date, x-amz-signature) or as the older HMAC-SHA1 form
// (AWSAccessKeyId, signature), which signs the same policy with the same
// expiry and is what many HTML forms still send. Without a policy the
// upload is anonymous and needs a public-read-write bucket.

// maxPostFields bounds the form fields before the file, as S3's 20 KB.
const maxPostFields = 20 << 10

var (
	errMalformedPOST  = s3Code{"MalformedPOSTRequest", http.StatusBadRequest}
	errInvalidPolicy  = s3Code{"InvalidPolicyDocument", http.StatusBadRequest}
	errPostPreDataLen = s3Code{"MaxPostPreDataLengthExceeded", http.StatusBadRequest}
)

// postForm is what precedes the file part: field values by lower-case
// name (S3 matches form field names without regard to case).
type postForm map[string]string

func (h *Handler) postObject(w http.ResponseWriter, req *request) error {
	ctx := req.r.Context()
	mt, params, err := mime.ParseMediaType(req.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return apiErr(errMalformedPOST, "a POST to a bucket must be multipart/form-data")
	}
	body, _, err := req.sig.Body(req.r)
	if err != nil {
		return err
	}
	mr := multipart.NewReader(body, params["boundary"])
	form := postForm{}
	var file *multipart.Part
	size := 0
	for file == nil {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return apiErr(errInvalidArgument, "POST requires exactly one file upload per request")
		}
		if err != nil {
			return &apiError{s3Code: errMalformedPOST, Msg: "the body of your POST request is not well-formed multipart/form-data", Err: err}
		}
		name := strings.ToLower(p.FormName())
		if name == "file" {
			file = p
			break
		}
		v, err := io.ReadAll(io.LimitReader(p, maxPostFields+1-int64(size)))
		if err != nil {
			return &apiError{s3Code: errMalformedPOST, Msg: "the body of your POST request is not well-formed multipart/form-data", Err: err}
		}
		if size += len(name) + len(v); size > maxPostFields {
			return apiErr(errPostPreDataLen, "your POST request fields preceding the upload file were too large")
		}
		form[name] = string(v)
	}
	if err := h.postAuthenticate(req, form); err != nil {
		return err
	}
	key, ok := form["key"]
	if !ok || key == "" {
		return apiErr(errInvalidArgument, "bucket POST must contain a field named 'key'")
	}
	key = strings.ReplaceAll(key, "${filename}", file.FileName())
	form["key"] = key // the policy's conditions see the key as stored
	if err := bucket.ValidKey(key); err != nil {
		return keyError(err)
	}
	req.key, req.hasKey = key, true
	lengths, err := checkPolicy(form, req.bucket, h.o.Now())
	if err != nil {
		return err
	}
	// The form's fields are the upload's headers: the same rules apply,
	// the bucket policy's conditions included.
	fr := req.r.Clone(ctx)
	fr.Header = http.Header{}
	for k, v := range form {
		if k == "acl" {
			k = "x-amz-acl"
		}
		fr.Header.Set(k, v)
	}
	b, err := h.loadBucket(req)
	if err != nil {
		return err
	}
	asForm := *req
	asForm.r = fr
	if err := h.authorize(&asForm, b, actPutObject, key, nil); err != nil {
		return err
	}
	meta, err := objectMeta(fr)
	if err != nil {
		return err
	}
	acl, err := objectACL(fr, b, req.project, form["acl"] != "")
	if err != nil {
		return err
	}
	var tags map[string]string
	if v := form["tagging"]; v != "" {
		var t tagging
		if err := xml.Unmarshal([]byte(v), &t); err != nil {
			return apiErr(errMalformedXML, "the tagging field is not a Tagging document")
		}
		if tags, err = t.tags(); err != nil {
			return err
		}
	}
	sp, err := writeSSE(fr, b, req.project, key)
	if err != nil {
		return err
	}
	dek, sse, enc, err := h.newObjectEncryption(req.r.Context(), sp)
	if err != nil {
		return err
	}
	want := map[checksum.Algorithm]string{}
	algos := []checksum.Algorithm{}
	for _, a := range checksum.All {
		if v, ok := form[strings.ToLower(a.Header())]; ok {
			if !a.Valid(v) {
				return apiErr(errInvalidRequest, "value for %s is invalid", strings.ToLower(a.Header()))
			}
			want[a], algos = v, append(algos, a)
		}
	}
	// A limit of 0 means none to Put: read one byte more and refuse it.
	limit := max(min(lengths[1], MaxPutSize), 1)
	blob, err := h.o.Blobs.Put(ctx, file, objectstore.PutOptions{Checksums: algos, Limit: limit, Encrypt: enc, InlineMax: InlineMax})
	req.bytesIn += blob.Size
	drop := func(e error) error {
		if blob.ID != "" {
			h.dropBlob(req, blob.ID)
		}
		return e
	}
	switch {
	case errs.Is(err, errs.TooLarge) || err == nil && blob.Size > lengths[1]:
		return drop(apiErr(errEntityTooLarge, "your proposed upload exceeds the maximum allowed size"))
	case err != nil:
		return drop(err)
	case blob.Size < lengths[0]:
		return drop(apiErr(errEntityTooSmall, "your proposed upload is smaller than the minimum allowed size"))
	}
	sums := map[string]string{}
	for a, sum := range blob.Checksums {
		sums[string(a)] = checksum.Encode(sum)
		if want[a] != sums[string(a)] {
			return drop(apiErr(errBadDigest, "the %s you specified did not match the calculated checksum", a))
		}
	}
	release := func() {}
	if h.o.Quota != nil {
		if release, err = h.o.Quota.Reserve(ctx, b.ProjectID, b, blob.Size); err != nil {
			return drop(toQuotaErr(err))
		}
	}
	defer release()
	o := bucket.Object{BucketID: b.ID, Key: key, BlobID: blob.ID, Inline: blob.Inline, Size: blob.Size, ETag: etagOf(sse, dek, blob.MD5),
		Meta: meta, Checksums: sums, Tags: tags, ACL: acl, SSE: sse, Lock: b.ObjectLock.Default(h.o.Now()), Modified: h.o.Now().UTC()}
	c, err := h.o.Meta.PutObject(req.cause(ctx, bucket.EventPost), o)
	if err != nil {
		return drop(err)
	}
	h.committed(w, req, b, c)
	return postAnswer(w, req, form, b, o)
}

// postAnswer redirects (success_action_redirect) or answers with the
// status success_action_status asks for: 200, 201 with a PostResponse
// document, or 204 (the default, also for any other value).
func postAnswer(w http.ResponseWriter, req *request, form postForm, b bucket.Bucket, o bucket.Object) error {
	w.Header().Set("ETag", quoted(o.ETag))
	setSSEHeaders(w, o.SSE)
	location := "/" + b.Name + "/" + sigv4.Encode(o.Key, true)
	if to := cmp.Or(form["success_action_redirect"], form["redirect"]); to != "" {
		if u, err := url.Parse(to); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			// In S3's order (bucket, key, etag), which clients compare.
			add := "bucket=" + url.QueryEscape(b.Name) + "&key=" + url.QueryEscape(o.Key) + "&etag=" + url.QueryEscape(quoted(o.ETag))
			if u.RawQuery != "" {
				add = u.RawQuery + "&" + add
			}
			u.RawQuery = add
			w.Header().Set("Location", u.String())
			w.WriteHeader(http.StatusSeeOther)
			return nil
		}
	}
	w.Header().Set("Location", location)
	switch form["success_action_status"] {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		return writeXML(w, http.StatusCreated, struct {
			XMLName  xml.Name `xml:"PostResponse"`
			Location string   `xml:"Location"`
			Bucket   string   `xml:"Bucket"`
			Key      string   `xml:"Key"`
			ETag     string   `xml:"ETag"`
		}{Location: location, Bucket: b.Name, Key: o.Key, ETag: quoted(o.ETag)})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// postAuthenticate checks the policy's signature and makes the key's
// project the caller. A form without a policy acts as the request's own
// signer, if any, else anonymously.
func (h *Handler) postAuthenticate(req *request, form postForm) error {
	policy, ok := form["policy"]
	if !ok {
		return nil
	}
	if req.sig != nil {
		return apiErr(errInvalidRequest, "a POST upload is authenticated by its form's policy or by the request's signature, not both")
	}
	var access, want, got string
	var key Key
	resolve := func(ak string) error {
		var err error
		if key, err = h.o.Credentials.ResolveS3Key(req.r.Context(), ak); err != nil {
			if isNotExist(err) {
				return apiErr(s3Code{sigv4.CodeInvalidAccessKeyID, http.StatusForbidden}, "the AWS access key id you provided does not exist in our records")
			}
			return err
		}
		return nil
	}
	if alg, v4 := form["x-amz-algorithm"]; v4 {
		if alg != sigv4.Algorithm {
			return apiErr(errInvalidArgument, "x-amz-algorithm must be %s", sigv4.Algorithm)
		}
		ak, scope, err := sigv4.ParseCredential(form["x-amz-credential"])
		if err != nil {
			return err
		}
		if _, err := time.Parse(sigv4.TimeFormat, form["x-amz-date"]); err != nil || !strings.HasPrefix(form["x-amz-date"], scope.Date) {
			return apiErr(errInvalidArgument, "x-amz-date must be the credential's day as yyyymmddThhmmssZ")
		}
		if got = form["x-amz-signature"]; got == "" {
			return apiErr(errInvalidArgument, "a POST policy needs x-amz-signature")
		}
		if err := resolve(ak); err != nil {
			return err
		}
		access, want = ak, sigv4.Sign(sigv4.SigningKey(key.Secret, scope), policy)
	} else {
		access, got = form["awsaccesskeyid"], form["signature"]
		if access == "" || got == "" {
			return apiErr(errInvalidArgument, "a POST policy needs AWSAccessKeyId and signature (or the x-amz-* SigV4 fields)")
		}
		if err := resolve(access); err != nil {
			return err
		}
		m := hmac.New(sha1.New, []byte(key.Secret))
		m.Write([]byte(policy))
		want = base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	if !sigv4.Equal(want, got) {
		return apiErr(s3Code{sigv4.CodeSignatureDoesNotMatch, http.StatusForbidden}, "the request signature we calculated does not match the signature you provided for access key %s", access)
	}
	req.project, req.service = key.ProjectID, key.ServiceID
	return nil
}

// checkPolicy validates the signed policy against the form: not expired,
// every condition met, and every field (but the signature's own,
// x-ignore-* and x-amz-checksum-*) covered by a condition. It returns the content-length-range
// ([0, MaxPutSize] when the policy sets none; anonymous forms have none).
func checkPolicy(form postForm, bucketName string, now time.Time) ([2]int64, error) {
	lengths := [2]int64{0, MaxPutSize}
	if v, ok := form["bucket"]; ok && v != bucketName {
		return lengths, apiErr(errAccessDenied, "invalid according to policy: the form's bucket field names another bucket than the one posted to")
	}
	enc, ok := form["policy"]
	if !ok {
		return lengths, nil
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return lengths, apiErr(errInvalidPolicy, "the policy is not base64")
	}
	var doc map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return lengths, apiErr(errInvalidPolicy, "the policy is not a JSON object")
	}
	var exp string
	if err := json.Unmarshal(doc["expiration"], &exp); err != nil {
		return lengths, apiErr(errInvalidPolicy, "invalid policy: the expiration must be a string")
	}
	t, err := time.Parse(time.RFC3339Nano, exp)
	if err != nil {
		return lengths, apiErr(errInvalidPolicy, "invalid policy: expiration %q is not an ISO 8601 time", exp)
	}
	var conds []json.RawMessage
	if err := json.Unmarshal(doc["conditions"], &conds); err != nil || doc["conditions"] == nil {
		return lengths, apiErr(errInvalidPolicy, "invalid policy: it has no conditions list")
	}
	if !now.Before(t) {
		return lengths, apiErr(errAccessDenied, "invalid according to policy: policy expired")
	}
	fields := map[string]string{}
	for k, v := range form {
		fields[k] = v
	}
	// Conditions see the bucket written, never what a field claims.
	fields["bucket"] = bucketName
	covered := map[string]bool{"policy": true, "signature": true, "awsaccesskeyid": true, "x-amz-signature": true, "file": true}
	failed := func(what string) ([2]int64, error) {
		return lengths, apiErr(errAccessDenied, "invalid according to policy: policy condition failed: %s", what)
	}
	for _, c := range conds {
		var eq map[string]string
		if json.Unmarshal(c, &eq) == nil {
			if len(eq) != 1 {
				return lengths, apiErr(errInvalidPolicy, "invalid policy: a condition object has one field")
			}
			for k, v := range eq {
				k = strings.ToLower(k)
				covered[k] = true
				if fields[k] != v {
					return failed(fmt.Sprintf(`["eq", "$%s", %q]`, k, v))
				}
			}
			continue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(c, &arr); err != nil || len(arr) != 3 {
			return lengths, apiErr(errInvalidPolicy, "invalid policy: a condition is an object or a list of three")
		}
		var op string
		if err := json.Unmarshal(arr[0], &op); err != nil {
			return lengths, apiErr(errInvalidPolicy, "invalid policy: a condition's operator must be a string")
		}
		if strings.EqualFold(op, "content-length-range") {
			var lo, hi json.Number
			if json.Unmarshal(arr[1], &lo) != nil || json.Unmarshal(arr[2], &hi) != nil {
				return lengths, apiErr(errInvalidPolicy, "invalid policy: content-length-range takes two integers")
			}
			a, aerr := strconv.ParseInt(lo.String(), 10, 64)
			b, berr := strconv.ParseInt(hi.String(), 10, 64)
			if aerr != nil || berr != nil || a < 0 || b < a {
				return lengths, apiErr(errInvalidPolicy, "invalid policy: content-length-range takes 0 <= min <= max")
			}
			lengths = [2]int64{a, b}
			continue
		}
		var field, value string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil || !strings.HasPrefix(field, "$") {
			return lengths, apiErr(errInvalidPolicy, "invalid policy: a condition names a $field and a string")
		}
		field = strings.ToLower(field[1:])
		covered[field] = true
		switch strings.ToLower(op) {
		case "eq":
			if fields[field] != value {
				return failed(fmt.Sprintf(`["eq", "$%s", %q]`, field, value))
			}
		case "starts-with":
			ok := strings.HasPrefix(fields[field], value)
			if field == "content-type" { // each of a list of types
				for _, ct := range strings.Split(fields[field], ",") {
					ok = ok && strings.HasPrefix(strings.TrimSpace(ct), value)
				}
			}
			if !ok {
				return failed(fmt.Sprintf(`["starts-with", "$%s", %q]`, field, value))
			}
		default:
			return lengths, apiErr(errInvalidPolicy, "invalid policy: unknown condition %q", op)
		}
	}
	for k := range form {
		// A checksum field needs no condition, as in S3: it only makes
		// the upload fail when the file is not what it says.
		if !covered[k] && !strings.HasPrefix(k, "x-ignore-") && !strings.HasPrefix(k, "x-amz-checksum-") {
			return lengths, apiErr(errAccessDenied, "invalid according to policy: extra input fields: %s", k)
		}
	}
	return lengths, nil
}
