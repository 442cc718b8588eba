package nbd

import (
	"bufio"
	"crypto/tls"
	"errors"
)

// NBD_OPT_STARTTLS and its refusal, from the protocol document's TLS
// section.
const (
	optStartTLS   = 5
	repErrTLSReqd = 1<<31 + 5
)

// startTLS upgrades the connection: ACK in plain text, then a TLS
// handshake (bounded by the handshake deadline already set on the
// socket), after which the options start again inside TLS.
func (c *conn) startTLS(n uint32) error {
	switch {
	case c.s.opts.TLS == nil:
		return c.optReply(optStartTLS, repErrUnsup, []byte("TLS is not configured on this server"))
	case c.tls:
		return c.optReply(optStartTLS, repErrInvalid, []byte("TLS is already on"))
	case n != 0:
		return c.optReply(optStartTLS, repErrInvalid, []byte("STARTTLS takes no data"))
	case c.br.Buffered() > 0:
		// Bytes sent after STARTTLS before our ACK would be read as the
		// start of the TLS handshake: a client that pipelines here is
		// broken or an attacker injecting plain text.
		return errors.New("data after STARTTLS before the reply")
	}
	if err := c.optReply(optStartTLS, repAck, nil); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.s.opts.TLS)
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return err
	}
	c.nc, c.tls = tc, true
	c.br = bufio.NewReaderSize(tc, 512)
	return nil
}

// refusePlain answers an option sent in plain text to a server that
// requires TLS. NBD_OPT_EXPORT_NAME has no error reply: the connection
// ends.
func (c *conn) refusePlain(opt uint32) error {
	if opt == optExportName {
		return errors.New("export requested without TLS, which this server requires")
	}
	return c.optReply(opt, repErrTLSReqd, []byte("this server requires TLS: use NBD_OPT_STARTTLS"))
}
