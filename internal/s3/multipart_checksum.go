package s3

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/checksum"
	"github.com/stowage/stowage/internal/core/bucket"
)

// checksumsXML renders stored checksums (algorithm → base64) as S3's
// Checksum* elements.
func checksumsXML(sums map[string]string) checksumXML {
	return checksumXML{CRC32: sums["CRC32"], CRC32C: sums["CRC32C"], CRC64NVME: sums["CRC64NVME"],
		SHA1: sums["SHA1"], SHA256: sums["SHA256"]}
}

// partSumsSuffix marks, in a multipart object's checksums, the entry that
// keeps its parts' own checksums of an algorithm ("SHA256"+partSumsSuffix:
// the base64 sums in part order, space-separated), which
// GetObjectAttributes shows part by part. No algorithm has the name, so
// headers and whole-object checksums pass over it.
const partSumsSuffix = ":parts"

// wholeChecksums drops the parts' entries from an object's checksums.
func wholeChecksums(sums map[string]string) map[string]string {
	out := make(map[string]string, len(sums))
	for a, v := range sums {
		if !strings.HasSuffix(a, partSumsSuffix) {
			out[a] = v
		}
	}
	return out
}

// partChecksums is the checksums of part n (from 1) of an object.
func partChecksums(sums map[string]string, n int) checksumXML {
	per := map[string]string{}
	for a, v := range sums {
		if alg, ok := strings.CutSuffix(a, partSumsSuffix); ok {
			if list := strings.Fields(v); n <= len(list) {
				per[alg] = list[n-1]
			}
		}
	}
	return checksumsXML(per)
}

// lastOfEachPart keeps, of consecutive entries naming one part number, the
// last: a client that resent a part lists both answers, and the part as
// stored is the one that finished last (S3 and RGW complete with it).
func lastOfEachPart(ps []completePart) []completePart {
	out := ps[:0:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].PartNumber == p.PartNumber {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

// completeChecksums is the checksum of a multipart object whose upload
// declared algo: S3's composite checksum, the digest of the parts' digests
// suffixed with the part count. A part's checksum named in the request
// must be the stored one (InvalidPart), and an x-amz-checksum-<algo>
// header must equal the result (BadDigest). It is nil when the upload
// declared no algorithm, or CRC64NVME, which S3 keeps only whole-object,
// or when a part has no sum of the algorithm.
func completeChecksums(hd http.Header, algo string, listed []completePart, parts []bucket.Part) (map[string]string, error) {
	a, ok := checksum.Parse(algo)
	if !ok || a == checksum.CRC64NVME {
		return nil, nil
	}
	h := a.New()
	each := make([]string, 0, len(parts))
	for i, p := range parts {
		sum, ok := p.Checksums[string(a)]
		if !ok {
			// A part copied from another object has no sum to combine.
			if hd.Get(a.Header()) != "" {
				return nil, apiErr(errBadDigest, "part %d has no %s checksum to verify the one you specified", p.Number, a)
			}
			return nil, nil
		}
		if l := listed[i].checksumXML; l != (checksumXML{}) && l != checksumsXML(map[string]string{string(a): sum}) {
			return nil, apiErr(errInvalidPart, "the checksum given for part %d does not match the part's %s checksum", p.Number, a)
		}
		raw, err := base64.StdEncoding.DecodeString(sum)
		if err != nil {
			return nil, fmt.Errorf("stored %s of part %d: %w", a, p.Number, err)
		}
		h.Write(raw)
		each = append(each, sum)
	}
	composite := fmt.Sprintf("%s-%d", checksum.Encode(h.Sum(nil)), len(parts))
	if v := hd.Get(a.Header()); v != "" && v != composite {
		return nil, apiErr(errBadDigest, "the %s you specified did not match the calculated checksum", a)
	}
	return map[string]string{string(a): composite, string(a) + partSumsSuffix: strings.Join(each, " ")}, nil
}
