package nbd_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// extent is a [Start, Start+Length) range and whether it holds data.
type extent struct {
	Start, Length int64
	Data          bool
}

// writtenVolume makes a 64 MiB volume with data in three places, written
// through the export with qemu-io, and returns the allocation the export
// must report: whole units of s.alloc around every write.
func writtenVolume(t *testing.T, s *testServer, name string) []extent {
	t.Helper()
	if err := s.pool.Create(context.Background(), name, 64<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "qemu-io", "-f", "raw", "-c", "write -P 0x11 0 64k", "-c", "write -P 0x22 1M 192k",
		"-c", "write -P 0x33 40000010 10", "-c", "flush", s.uri(name))
	var want []extent
	add := func(start, end int64, data bool) {
		start, end = start&^(s.alloc-1), (end+s.alloc-1)&^(s.alloc-1)
		if n := len(want); n > 0 {
			last := &want[n-1]
			if last.Data == data && last.Start+last.Length >= start {
				last.Length = max(last.Length, end-last.Start)
				return
			}
			if last.Start+last.Length < start {
				want = append(want, extent{last.Start + last.Length, start - last.Start - last.Length, false})
			}
		} else if start > 0 {
			want = append(want, extent{0, start, false})
		}
		want = append(want, extent{start, end - start, data})
	}
	add(0, 64<<10, true)
	add(1<<20, 1<<20+192<<10, true)
	add(40000010, 40000020, true)
	add(64<<20, 64<<20, false)
	return slices.DeleteFunc(want, func(e extent) bool { return e.Length == 0 })
}

// TestQemuImgMap checks that qemu-img map, which asks BLOCK_STATUS for
// base:allocation, sees exactly the chunks that were written and holes
// elsewhere. On a server without BLOCK_STATUS it reports all data.
func TestQemuImgMap(t *testing.T) { testQemuImgMap(t, startServer(t)) }

func testQemuImgMap(t *testing.T, s *testServer) {
	want := writtenVolume(t, s, "m")
	out := run(t, "qemu-img", "map", "--output=json", "-f", "raw", s.uri("m"))
	var rows []struct {
		Start  int64 `json:"start"`
		Length int64 `json:"length"`
		Data   bool  `json:"data"`
		Zero   bool  `json:"zero"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	var got []extent
	for _, r := range rows {
		if r.Data == r.Zero {
			t.Errorf("extent %+v: data and zero should differ for a thin volume", r)
		}
		if n := len(got); n > 0 && got[n-1].Data == r.Data {
			got[n-1].Length += r.Length
			continue
		}
		got = append(got, extent{r.Start, r.Length, r.Data})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("qemu-img map:\n got %v\nwant %v\n%s", got, want, out)
	}
}

// TestNbdinfoMap reads both meta contexts with libnbd's nbdinfo.
func TestNbdinfoMap(t *testing.T) { testNbdinfoMap(t, startServer(t)) }

func testNbdinfoMap(t *testing.T, s *testServer) {
	want := writtenVolume(t, s, "m")
	parse := func(out string) []extent {
		var got []extent
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e extent
			var typ int
			if _, err := fmt.Sscan(line, &e.Start, &e.Length, &typ); err != nil {
				t.Fatalf("nbdinfo --map line %q: %v", line, err)
			}
			e.Data = typ == 0
			if n := len(got); n > 0 && got[n-1].Data == e.Data {
				got[n-1].Length += e.Length
				continue
			}
			got = append(got, e)
		}
		return got
	}
	out := run(t, "nbdinfo", "--map", s.uri("m"))
	if got := parse(out); !slices.Equal(got, want) {
		t.Errorf("nbdinfo --map:\n got %v\nwant %v\n%s", got, want, out)
	}
	if !strings.Contains(out, "hole,zero") {
		t.Errorf("nbdinfo --map does not name holes:\n%s", out)
	}
	// qemu:allocation-depth is 1 where the volume maps a chunk, 0 (which
	// parse reads as data: typ 0) where it does not: flip to compare.
	out = run(t, "nbdinfo", "--map=qemu:allocation-depth", s.uri("m"))
	got := parse(out)
	for i := range got {
		got[i].Data = !got[i].Data
	}
	if !slices.Equal(got, want) {
		t.Errorf("nbdinfo --map=qemu:allocation-depth:\n got %v\nwant %v\n%s", got, want, out)
	}
}

// structuredChunk reads one structured reply chunk.
func (c *rawClient) structuredChunk() (flags, typ uint16, handle uint64, payload []byte) {
	c.t.Helper()
	h := c.read(20)
	if binary.BigEndian.Uint32(h) != 0x668e33ef {
		c.t.Fatalf("bad structured reply magic % x", h)
	}
	return binary.BigEndian.Uint16(h[4:]), binary.BigEndian.Uint16(h[6:]), binary.BigEndian.Uint64(h[8:]),
		c.read(int(binary.BigEndian.Uint32(h[16:])))
}

func metaData(export string, queries ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(export)))
	b = append(b, export...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(queries)))
	for _, q := range queries {
		b = binary.BigEndian.AppendUint32(b, uint32(len(q)))
		b = append(b, q...)
	}
	return b
}

// metaReplies sends a meta context option and returns the contexts
// offered, name to id, or the error reply type.
func (c *rawClient) metaReplies(opt uint32, data []byte) (map[string]uint32, uint32) {
	c.t.Helper()
	c.option(opt, data)
	got := map[string]uint32{}
	for {
		typ, d := c.optReply(opt)
		switch typ {
		case 4:
			got[string(d[4:])] = binary.BigEndian.Uint32(d)
		case 1:
			return got, 0
		default:
			return nil, typ
		}
	}
}

// TestBlockStatusProtocol speaks the options and the command byte by byte:
// negotiation rules, the extents' encoding, REQ_ONE, and structured errors.
func TestBlockStatusProtocol(t *testing.T) {
	s := startServer(t)
	writtenVolume(t, s, "m")

	c := dial(t, s.addr, 3)
	// SET before STRUCTURED_REPLY is refused; LIST is allowed.
	if _, e := c.metaReplies(10, metaData("m", "base:allocation")); e != 1<<31+3 {
		t.Fatalf("SET_META_CONTEXT without structured replies: %#x", e)
	}
	all, e := c.metaReplies(9, metaData("m"))
	if e != 0 || len(all) != 2 || all["base:allocation"] == 0 || all["qemu:allocation-depth"] == 0 {
		t.Fatalf("LIST_META_CONTEXT: %v %#x", all, e)
	}
	if got, _ := c.metaReplies(9, metaData("m", "base:")); len(got) != 1 || got["base:allocation"] == 0 {
		t.Fatalf("LIST base: %v", got)
	}
	if typ, _ := c.optReply0(8, []byte{1}); typ != 1<<31+3 {
		t.Fatalf("STRUCTURED_REPLY with data: %#x", typ)
	}
	if typ, _ := c.optReply0(8, nil); typ != 1 {
		t.Fatalf("STRUCTURED_REPLY: %#x", typ)
	}
	if got, _ := c.metaReplies(10, metaData("m", "base:allocation", "nosuch:thing", "base:")); len(got) != 1 {
		t.Fatalf("SET base:allocation: %v", got)
	}
	if _, e := c.metaReplies(10, []byte{0, 0, 0, 9, 'x'}); e != 1<<31+3 {
		t.Fatalf("malformed SET: %#x", e)
	}
	set, _ := c.metaReplies(10, metaData("m", "base:allocation"))
	id := set["base:allocation"]
	c.goExport("m")

	// The range from 0: data, then hole up to 1 MiB, clipped to the request.
	c.request(7, 0, 1, 0, 2<<20, nil)
	flags, typ, handle, p := c.structuredChunk()
	if flags != 1 || typ != 5 || handle != 1 || binary.BigEndian.Uint32(p) != id {
		t.Fatalf("BLOCK_STATUS reply flags %d type %d handle %d", flags, typ, handle)
	}
	var descs [][2]uint32
	for p = p[4:]; len(p) >= 8; p = p[8:] {
		descs = append(descs, [2]uint32{binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])})
	}
	want := [][2]uint32{{64 << 10, 0}, {1<<20 - 64<<10, 3}, {192 << 10, 0}, {1<<20 - 192<<10, 3}}
	if !slices.Equal(descs, want) {
		t.Fatalf("extents %v, want %v", descs, want)
	}
	// REQ_ONE answers one extent, starting mid-chunk.
	c.request(7, 8, 2, 100, 1<<20, nil)
	if _, _, _, p = c.structuredChunk(); len(p) != 12 || binary.BigEndian.Uint32(p[4:]) != 64<<10-100 || binary.BigEndian.Uint32(p[8:]) != 0 {
		t.Fatalf("REQ_ONE payload % x", p)
	}
	// Out of range: a structured error (type ERROR, EINVAL).
	c.request(7, 0, 3, 64<<20, 1, nil)
	if flags, typ, handle, p = c.structuredChunk(); flags != 1 || typ != 1<<15+1 || handle != 3 || binary.BigEndian.Uint32(p) != 22 {
		t.Fatalf("out-of-range BLOCK_STATUS: flags %d type %#x handle %d % x", flags, typ, handle, p)
	}
	// READ answers with an OFFSET_DATA chunk, and errors structured too.
	c.request(0, 0, 4, 1<<20, 4, nil)
	if flags, typ, handle, p = c.structuredChunk(); flags != 1 || typ != 1 || handle != 4 ||
		binary.BigEndian.Uint64(p) != 1<<20 || string(p[8:]) != "\x22\x22\x22\x22" {
		t.Fatalf("structured READ: flags %d type %d handle %d % x", flags, typ, handle, p)
	}
	c.request(0, 0, 5, 64<<20, 4, nil)
	if _, typ, handle, p = c.structuredChunk(); typ != 1<<15+1 || handle != 5 || binary.BigEndian.Uint32(p) != 22 {
		t.Fatalf("structured READ error: type %#x handle %d % x", typ, handle, p)
	}
	// Other commands may still use simple replies.
	c.request(3, 0, 6, 0, 0, nil)
	if h, e := c.reply(); h != 6 || e != 0 {
		t.Fatalf("FLUSH: %d %d", h, e)
	}

	// Contexts selected for another export do not carry over to GO.
	o := dial(t, s.addr, 3)
	o.optReply0(8, nil)
	o.metaReplies(10, metaData("other", "base:allocation"))
	o.goExport("m")
	o.request(7, 0, 1, 0, 4096, nil)
	if h, e := o.reply(); h != 1 || e != 22 {
		t.Fatalf("BLOCK_STATUS with contexts for another export: %d %d", h, e)
	}
}

// optReply0 sends an option and returns its single reply.
func (c *rawClient) optReply0(opt uint32, data []byte) (uint32, []byte) {
	c.t.Helper()
	c.option(opt, data)
	return c.optReply(opt)
}
