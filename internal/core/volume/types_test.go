package volume

import (
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/errs"
)

func TestCatalogResolvesAliases(t *testing.T) {
	c, err := NewCatalog("local-1", []string{"local-1a"}, DefaultTypes())
	if err != nil {
		t.Fatal(err)
	}
	for alias, want := range map[string]string{"dssd": "ssd", "SSD": "ssd", "zadara": "hdd", "magnetic": "hdd", "HDD": "hdd",
		"nvme": "nvme", "highspeedstorage": "highspeedstorage", "filesystem": "filesystem"} {
		got, err := c.Type(alias)
		if err != nil || got.Name != want {
			t.Errorf("Type(%q) = %q, %v; want %q", alias, got.Name, err, want)
		}
	}
	if ft, _ := c.Type("filesystem"); ft.Kind != KindFilesystem {
		t.Errorf("filesystem kind %q", ft.Kind)
	}
	_, err = c.Type("floppy")
	if !errs.Is(err, errs.Invalid) || errs.FieldOf(err) != "type" || !strings.Contains(errs.Message(err), "ssd, nvme, hdd") {
		t.Errorf("unknown type: %v", err)
	}
	if z, err := c.Zone(""); err != nil || z != "local-1a" {
		t.Errorf("default zone %q %v", z, err)
	}
	if _, err := c.Zone("mars-1a"); !errs.Is(err, errs.Invalid) {
		t.Errorf("unknown zone: %v", err)
	}
	if _, err := NewCatalog("r", []string{"z"}, []Type{{Name: "a", Kind: KindBlock}, {Name: "b", Kind: KindBlock, Aliases: []string{"a"}}}); err == nil {
		t.Error("a name used twice was accepted")
	}
}

func TestTypeSizes(t *testing.T) {
	ty := Type{Name: "t", Kind: KindBlock, MinSize: 1 << 20, MaxSize: 1 << 30}
	for size, ok := range map[int64]bool{1 << 20: true, 1 << 30: true, 1<<20 + 512: true, 1<<20 + 1: false, 512: false, 1<<30 + 512: false} {
		if err := ty.checkSize(size); (err == nil) != ok {
			t.Errorf("checkSize(%d) = %v, want ok=%v", size, err, ok)
		}
	}
}
