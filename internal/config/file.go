package config

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	// TOML rather than a format of our own: operators and config managers
	// know it, and this parser has no dependencies of its own.
	"github.com/BurntSushi/toml"
)

// applyFile fills every flag that neither the command line (set) nor its
// STOWAGE_* variable (fromEnv) gave from the config file named by --config or
// STOWAGE_CONFIG: flags and the environment win over the file. Keys are
// the flags' names, with - or _ ("data_dir" or "data-dir"); lists (zones,
// allowed hosts) may be TOML arrays. An unknown key is an error, so a
// typo does not silently leave a default in place.
func applyFile(fs *flag.FlagSet, set, fromEnv map[string]bool, getenv func(string) string) error {
	path := fs.Lookup("config").Value.String()
	if !set["config"] {
		if v := getenv("STOWAGE_CONFIG"); v != "" {
			path = v
		}
	}
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var kv map[string]any
	if err := toml.Unmarshal(b, &kv); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		if fs.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("config file %s: unknown setting %q", path, k)
		}
		if set[name] || fromEnv[name] {
			continue
		}
		v, err := settingValue(kv[k])
		if err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, k, err)
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, k, err)
		}
	}
	return nil
}

// settingValue spells a TOML value as its flag would be given.
func settingValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("want a list of strings, got %v", x)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a string, number, boolean or list of strings, got %T", v)
}
