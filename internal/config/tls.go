package config

import (
	"errors"
	"fmt"
)

// TLS reports whether the HTTP listeners speak TLS.
func (c *Config) TLS() bool { return c.TLSCert != "" }

// validateTLS checks the TLS settings' shape; whether the files hold a
// usable certificate is checked when the server loads them.
func (c *Config) validateTLS() []error {
	var problems []error
	if c.TLSKey != "" && c.TLSCert == "" {
		problems = append(problems, errors.New("--tls-key needs --tls-cert"))
	}
	switch c.NBDTLS {
	case "off", "on":
	case "require":
		if c.TLSCert == "" {
			problems = append(problems, errors.New("--nbd-tls require needs --tls-cert"))
		}
	default:
		problems = append(problems, fmt.Errorf("--nbd-tls %q: want on, require or off", c.NBDTLS))
	}
	return problems
}
