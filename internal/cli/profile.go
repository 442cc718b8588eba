package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// profiles is the client configuration file: named endpoints with their
// tokens, which one is current, and the S3 keys the object commands made
// (see s3KeyName).
type profiles struct {
	Current  string             `json:"current"`
	Profiles map[string]profile `json:"profiles"`
	S3Keys   map[string]s3Key   `json:"s3_keys,omitempty"`
}

type profile struct {
	Endpoint string `json:"endpoint"`
	Token    string `json:"token"`
	// CACert is a PEM file of the CA the endpoint's certificate is
	// verified against, when it is not one the system trusts.
	CACert string `json:"ca_cert,omitempty"`
}

// configPath is ~/.config/stowage/config.json, or under $XDG_CONFIG_HOME.
func configPath(getenv func(string) string) (string, error) {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "stowage", "config.json"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("cannot find the config file: HOME is not set")
	}
	return filepath.Join(home, ".config", "stowage", "config.json"), nil
}

// loadProfiles reads the config file (none yet is an empty one) and
// returns it with its path, for save.
func loadProfiles(getenv func(string) string) (profiles, string, error) {
	p := profiles{Profiles: map[string]profile{}}
	path, err := configPath(getenv)
	if err != nil {
		return p, "", err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, path, nil
	}
	if err != nil {
		return p, path, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, path, fmt.Errorf("read %s: %w", path, err)
	}
	if p.Profiles == nil {
		p.Profiles = map[string]profile{}
	}
	return p, path, nil
}

// save writes the file with mode 0600: it holds tokens.
func (p profiles) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}
