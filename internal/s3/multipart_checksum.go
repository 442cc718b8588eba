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
	x := checksumXML{CRC32: sums["CRC32"], CRC32C: sums["CRC32C"], CRC64NVME: sums["CRC64NVME"],
		SHA1: sums["SHA1"], SHA256: sums["SHA256"]}
	for _, v := range []string{x.CRC32, x.CRC32C, x.CRC64NVME, x.SHA1, x.SHA256} {
		if v != "" {
			x.Type = checksumType(v)
		}
	}
	return x
}

// S3's checksum types: a digest of the parts' digests, suffixed "-N", or
// one of the whole object (a single PUT's, or a multipart object's CRC
// combined from its parts').
const (
	checksumComposite  = "COMPOSITE"
	checksumFullObject = "FULL_OBJECT"
)

// checksumType tells a stored checksum's type by its form.
func checksumType(v string) string {
	if i := strings.LastIndexByte(v, '-'); i >= 0 && i < len(v)-1 && strings.Trim(v[i+1:], "0123456789") == "" {
		return checksumComposite
	}
	return checksumFullObject
}

// uploadChecksum reads the checksum an upload declared (x-amz-checksum-
// algorithm and -type, kept together as "ALGO" or "ALGO/FULL_OBJECT").
func uploadChecksum(declared string) (algo, typ string) {
	algo, full, _ := strings.Cut(declared, "/")
	if algo == "" {
		return "", ""
	}
	if full != "" {
		return algo, checksumFullObject
	}
	return algo, checksumComposite
}

// declareChecksum checks a CreateMultipartUpload's x-amz-checksum-algorithm
// and x-amz-checksum-type as S3 does (FULL_OBJECT needs a CRC, which
// combine; COMPOSITE cannot be of CRC64NVME, which is full-object only,
// and its default) and returns them as the upload keeps them.
func declareChecksum(hd http.Header) (string, error) {
	algo := strings.ToUpper(strings.TrimSpace(hd.Get("X-Amz-Checksum-Algorithm")))
	typ := strings.ToUpper(strings.TrimSpace(hd.Get("X-Amz-Checksum-Type")))
	a, known := checksum.Parse(algo)
	switch {
	case typ == "" && a == checksum.CRC64NVME:
		typ = checksumFullObject
	case typ == "" || typ == checksumComposite:
		if a == checksum.CRC64NVME {
			return "", apiErr(errInvalidRequest, "the COMPOSITE checksum type cannot be used with the CRC64NVME checksum algorithm")
		}
		return algo, nil
	case typ != checksumFullObject:
		return "", apiErr(errInvalidRequest, "x-amz-checksum-type must be COMPOSITE or FULL_OBJECT")
	}
	if !known || !a.Combinable() {
		return "", apiErr(errInvalidRequest, "the FULL_OBJECT checksum type needs a CRC32, CRC32C or CRC64NVME checksum algorithm")
	}
	return algo + "/" + checksumFullObject, nil
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

// partChecksums is the checksums of part n (from 1) of an object, with
// the type of the object's.
func partChecksums(sums map[string]string, n int) checksumXML {
	per := map[string]string{}
	for a, v := range sums {
		if alg, ok := strings.CutSuffix(a, partSumsSuffix); ok {
			if list := strings.Fields(v); n <= len(list) {
				per[alg] = list[n-1]
			}
		}
	}
	x := checksumsXML(per)
	x.Type = checksumsXML(wholeChecksums(sums)).Type
	return x
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
// declared one ("ALGO" or "ALGO/FULL_OBJECT"): S3's composite checksum,
// the digest of the parts' digests suffixed with the part count, or the
// whole object's CRC combined from the parts'. A part's checksum named in
// the request must be the stored one (InvalidPart), and an
// x-amz-checksum-<algo> header must equal the result (BadDigest). It is
// nil when the upload declared no algorithm, or when a part has no sum of
// the algorithm.
func completeChecksums(hd http.Header, declared string, listed []completePart, parts []bucket.Part) (map[string]string, error) {
	algo, typ := uploadChecksum(declared)
	a, ok := checksum.Parse(algo)
	if !ok {
		return nil, nil
	}
	h := a.New()
	var whole []byte // FULL_OBJECT: the CRC of the parts so far
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
		stored := checksumsXML(map[string]string{string(a): sum})
		stored.Type = ""
		if l := listed[i].checksumXML; l != (checksumXML{}) && l != stored {
			return nil, apiErr(errInvalidPart, "the checksum given for part %d does not match the part's %s checksum", p.Number, a)
		}
		raw, err := base64.StdEncoding.DecodeString(sum)
		if err != nil {
			return nil, fmt.Errorf("stored %s of part %d: %w", a, p.Number, err)
		}
		h.Write(raw)
		each = append(each, sum)
		if typ == checksumFullObject {
			if i == 0 {
				whole = raw
			} else if whole, ok = a.Combine(whole, raw, p.Size); !ok {
				return nil, fmt.Errorf("stored %s of part %d: %d bytes", a, p.Number, len(raw))
			}
		}
	}
	composite := fmt.Sprintf("%s-%d", checksum.Encode(h.Sum(nil)), len(parts))
	if typ == checksumFullObject {
		composite = checksum.Encode(whole)
	}
	if v := hd.Get(a.Header()); v != "" && v != composite {
		return nil, apiErr(errBadDigest, "the %s you specified did not match the calculated checksum", a)
	}
	return map[string]string{string(a): composite, string(a) + partSumsSuffix: strings.Join(each, " ")}, nil
}
