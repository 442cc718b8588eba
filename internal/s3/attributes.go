package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
)

type checksumXML struct {
	CRC32     string `xml:"ChecksumCRC32,omitempty"`
	CRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	CRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	SHA1      string `xml:"ChecksumSHA1,omitempty"`
	SHA256    string `xml:"ChecksumSHA256,omitempty"`
	// Type is S3's ChecksumType, COMPOSITE or FULL_OBJECT, where a
	// checksum is shown whole (not on the parts of a listing).
	Type string `xml:"ChecksumType,omitempty"`
}

type objectPartsXML struct {
	// S3's element for the SDKs' TotalPartsCount is PartsCount.
	TotalPartsCount      int           `xml:"PartsCount"`
	PartNumberMarker     int           `xml:"PartNumberMarker"`
	NextPartNumberMarker int           `xml:"NextPartNumberMarker,omitempty"`
	MaxParts             int           `xml:"MaxParts"`
	IsTruncated          bool          `xml:"IsTruncated"`
	Parts                []partSizeXML `xml:"Part"`
}

type partSizeXML struct {
	checksumXML
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
}

type objectAttributes struct {
	XMLName      xml.Name        `xml:"GetObjectAttributesResponse"`
	Xmlns        string          `xml:"xmlns,attr"`
	ETag         string          `xml:"ETag,omitempty"`
	Checksum     *checksumXML    `xml:"Checksum,omitempty"`
	ObjectParts  *objectPartsXML `xml:"ObjectParts,omitempty"`
	StorageClass string          `xml:"StorageClass,omitempty"`
	ObjectSize   *int64          `xml:"ObjectSize,omitempty"`
}

// getObjectAttributes answers GET ?attributes with what metadata holds:
// ETag, size, storage class, whole-object checksums and, for multipart
// objects, the parts' numbers, sizes and checksums, paged by
// x-amz-max-parts and x-amz-part-number-marker.
func (h *Handler) getObjectAttributes(w http.ResponseWriter, req *request) error {
	b, err := h.loadBucket(req)
	if err != nil {
		return err
	}
	o, err := h.versionAt(req, b)
	var op *bucket.Object
	if err == nil {
		op = &o
	} else if !isNotExist(err) {
		return err
	}
	if err := h.readable(req, b, req.key, op); err != nil {
		return err
	}
	sp, err := customerKey(req.r, "X-Amz-")
	if err != nil {
		return err
	}
	if _, err := h.dataKey(req.r.Context(), req.project, o.SSE, sp); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range req.r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			want[strings.TrimSpace(a)] = true
		}
	}
	if len(want) == 0 {
		return apiErr(errInvalidArgument, "x-amz-object-attributes is required")
	}
	res := objectAttributes{Xmlns: s3NS}
	if want["ETag"] {
		res.ETag = o.ETag
	}
	if want["StorageClass"] {
		res.StorageClass = "STANDARD"
		if sc := o.Meta["X-Amz-Storage-Class"]; sc != "" {
			res.StorageClass = sc
		}
	}
	if want["ObjectSize"] {
		res.ObjectSize = &o.Size
	}
	if want["Checksum"] && len(o.Checksums) > 0 {
		sums := checksumsXML(wholeChecksums(o.Checksums))
		res.Checksum = &sums
	}
	if want["ObjectParts"] && o.Parts > 0 {
		if res.ObjectParts, err = objectParts(req.r.Header, o); err != nil {
			return err
		}
	}
	w.Header().Set("Last-Modified", o.Modified.UTC().Format(http.TimeFormat))
	setVersionHeader(w, b, o.VersionID)
	return writeXML(w, http.StatusOK, res)
}

// objectParts pages through a multipart object's parts: number, size and
// the part's own checksum when the upload declared an algorithm.
func objectParts(hd http.Header, o bucket.Object) (*objectPartsXML, error) {
	out := &objectPartsXML{TotalPartsCount: o.Parts, MaxParts: 1000}
	if v := hd.Get("X-Amz-Max-Parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, apiErr(errInvalidArgument, "x-amz-max-parts must be a non-negative integer")
		}
		out.MaxParts = min(n, 1000)
	}
	if v := hd.Get("X-Amz-Part-Number-Marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, apiErr(errInvalidArgument, "x-amz-part-number-marker must be a non-negative integer")
		}
		out.PartNumberMarker = n
	}
	for i := out.PartNumberMarker; i < len(o.PartSizes); i++ {
		if len(out.Parts) == out.MaxParts {
			out.IsTruncated = true
			break
		}
		sums := partChecksums(o.Checksums, i+1)
		sums.Type = ""
		out.Parts = append(out.Parts, partSizeXML{checksumXML: sums, PartNumber: i + 1, Size: o.PartSizes[i]})
		out.NextPartNumberMarker = i + 1
	}
	return out, nil
}
