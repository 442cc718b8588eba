package checksum

import "encoding/binary"

// reversed are the reflected polynomials of the CRC algorithms, which
// Combine needs; each has init and xorout all ones, so that the CRC of
// A‖B is the CRC of A run through len(B) zero bytes, xored with B's.
var reversed = map[Algorithm]struct {
	poly  uint64
	width int
}{
	CRC32:     {0xedb88320, 32},
	CRC32C:    {0x82f63b78, 32},
	CRC64NVME: {0x9a6c9329ac4bc9b5, 64},
}

// Combinable reports whether a's digests of consecutive pieces combine
// into the digest of the whole (S3's FULL_OBJECT checksums of multipart
// uploads): the CRCs do, the SHAs do not.
func (a Algorithm) Combinable() bool {
	_, ok := reversed[a]
	return ok
}

// Combine is the digest of A‖B from a's digests of A and of B, B being
// lenB bytes long (zlib's crc32_combine, for any of the CRCs). ok is false
// for an algorithm that does not combine or digests of the wrong size.
func (a Algorithm) Combine(sumA, sumB []byte, lenB int64) (sum []byte, ok bool) {
	r, ok := reversed[a]
	if !ok || len(sumA) != r.width/8 || len(sumB) != r.width/8 {
		return nil, false
	}
	get := func(b []byte) uint64 {
		if r.width == 32 {
			return uint64(binary.BigEndian.Uint32(b))
		}
		return binary.BigEndian.Uint64(b)
	}
	crc := get(sumA)
	if lenB > 0 {
		// odd is the operator for one zero bit, squared up to the bits of
		// lenB·8 and applied where lenB has a one.
		odd, even := make([]uint64, r.width), make([]uint64, r.width)
		odd[0] = r.poly
		for n, row := 1, uint64(1); n < r.width; n, row = n+1, row<<1 {
			odd[n] = row
		}
		gf2Square(even, odd) // two zero bits
		gf2Square(odd, even) // four
		for n := lenB; n > 0; {
			gf2Square(even, odd) // the first pass makes it one zero byte
			if n&1 != 0 {
				crc = gf2Times(even, crc)
			}
			if n >>= 1; n == 0 {
				break
			}
			gf2Square(odd, even)
			if n&1 != 0 {
				crc = gf2Times(odd, crc)
			}
			n >>= 1
		}
	}
	crc ^= get(sumB)
	out := make([]byte, r.width/8)
	if r.width == 32 {
		binary.BigEndian.PutUint32(out, uint32(crc))
	} else {
		binary.BigEndian.PutUint64(out, crc)
	}
	return out, true
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}
