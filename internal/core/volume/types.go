package volume

import (
	"strings"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/errs"
)

// Type kinds.
const (
	KindBlock      = "block"
	KindFilesystem = "filesystem"
)

// Type is a volume type: what kind of device it is, the sizes it allows and
// the QoS limits the NBD server enforces on each export of it.
type Type struct {
	Name    string
	Kind    string
	Aliases []string
	MinSize int64 // bytes
	MaxSize int64 // bytes
	// IOPS and MBps are per-export limits; zero means unlimited.
	IOPS int
	MBps int
}

// DefaultTypes covers every type name the dialects' seeds use.
func DefaultTypes() []Type {
	const mib, tib = int64(1) << 20, int64(1) << 40
	return []Type{
		{Name: "ssd", Kind: KindBlock, Aliases: []string{"dssd", "SSD"}, MinSize: mib, MaxSize: 4 * tib, IOPS: 20000, MBps: 500},
		{Name: "nvme", Kind: KindBlock, Aliases: []string{"NVME", "NVMe"}, MinSize: mib, MaxSize: 4 * tib, IOPS: 50000, MBps: 1000},
		{Name: "hdd", Kind: KindBlock, Aliases: []string{"zadara", "magnetic", "HDD"}, MinSize: mib, MaxSize: 4 * tib, IOPS: 1000, MBps: 100},
		{Name: "highspeedstorage", Kind: KindBlock, MinSize: mib, MaxSize: 4 * tib},
		{Name: "filesystem", Kind: KindFilesystem, MinSize: mib, MaxSize: 4 * tib},
	}
}

// Catalog resolves type names and aliases, and knows the zones.
type Catalog struct {
	Region string
	Zones  []string
	types  []Type
	byName map[string]int
}

// NewCatalog checks that names and aliases are unique.
func NewCatalog(region string, zones []string, types []Type) (*Catalog, error) {
	c := &Catalog{Region: region, Zones: zones, types: types, byName: map[string]int{}}
	for i, t := range types {
		if t.Kind != KindBlock && t.Kind != KindFilesystem {
			return nil, errs.E(errs.Invalid, "volume type %s: kind must be block or filesystem", t.Name)
		}
		for _, n := range append([]string{t.Name}, t.Aliases...) {
			if _, dup := c.byName[n]; dup {
				return nil, errs.E(errs.Invalid, "volume type name %q is used twice", n)
			}
			c.byName[n] = i
		}
	}
	return c, nil
}

// Types lists the configured types.
func (c *Catalog) Types() []Type { return c.types }

// Type resolves a name or an alias to its type.
func (c *Catalog) Type(name string) (Type, error) {
	i, ok := c.byName[name]
	if !ok {
		names := make([]string, len(c.types))
		for j, t := range c.types {
			names[j] = t.Name
		}
		return Type{}, errs.Field("type", "unknown volume type %q; known types: %s", name, strings.Join(names, ", "))
	}
	return c.types[i], nil
}

// Zone checks a zone name; empty picks the first zone.
func (c *Catalog) Zone(z string) (string, error) {
	if z == "" {
		return c.Zones[0], nil
	}
	for _, x := range c.Zones {
		if x == z {
			return z, nil
		}
	}
	return "", errs.Field("zone", "unknown zone %q; region %s has %s", z, c.Region, strings.Join(c.Zones, ", "))
}

func (t Type) checkSize(size int64) error {
	switch {
	case size%512 != 0:
		return errs.Field("size", "size must be a multiple of 512 bytes")
	case size < t.MinSize || size > t.MaxSize:
		return errs.Field("size", "size of a %s volume must be from %s to %s", t.Name, bytesize.Format(t.MinSize), bytesize.Format(t.MaxSize))
	}
	return nil
}
