package s3

import (
	"net/http"
	"sort"
)

// maxBucketTags is S3's limit on a bucket's tag set (objects have 10).
const maxBucketTags = 50

func (h *Handler) putBucketTagging(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketTagging")
	if err != nil {
		return err
	}
	var in tagging
	if err := req.readXML(&in); err != nil {
		return err
	}
	tags, err := in.tagSet(maxBucketTags, "bucket")
	if err != nil {
		return err
	}
	b.Tags = tags
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketTagging(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketTagging")
	if err != nil {
		return err
	}
	if len(b.Tags) == 0 {
		return apiErr(errNoSuchTagSet, "the TagSet does not exist")
	}
	t := tagging{Xmlns: s3NS, TagSet: make([]tag, 0, len(b.Tags))}
	for k, v := range b.Tags {
		t.TagSet = append(t.TagSet, tag{Key: k, Value: v})
	}
	sort.Slice(t.TagSet, func(i, j int) bool { return t.TagSet[i].Key < t.TagSet[j].Key })
	return writeXML(w, http.StatusOK, t)
}

// deleteBucketTagging is authorised as s3:PutBucketTagging, as in S3.
func (h *Handler) deleteBucketTagging(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketTagging")
	if err != nil {
		return err
	}
	b.Tags = nil
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
