package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 64 << 20: "64 MiB", 1 << 30: "1 GiB",
		2147483648: "2 GiB", 3<<30 + 1<<29: "3.5 GiB", 4 << 40: "4 TiB", -2048: "-2 KiB", 1<<62 + 1<<61: "6 EiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]int64{"1": 1, "10G": 10 << 30, "512MiB": 512 << 20, "1t": 1 << 40, "4k": 4096, " 8 M ": 8 << 20, "100b": 100} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "ten", "0", "-1G", "1.5G", "9999999T", "G"} {
		if n, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", s, n)
		}
	}
	// Every size Format writes in whole units reads back.
	for _, n := range []int64{1 << 10, 64 << 20, 3 << 30, 4 << 40} {
		f := Format(n)
		if got, err := Parse(f); err != nil || got != n {
			t.Errorf("Parse(Format(%d) = %q) = %d, %v", n, f, got, err)
		}
	}
}
