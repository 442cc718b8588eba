package nbd

// Wire constants from the NBD protocol document (NetworkBlockDevice/nbd
// doc/proto.md). All integers on the wire are big-endian.
const (
	magicNBD       = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt       = 0x49484156454F5054 // "IHAVEOPT"
	magicOptReply  = 0x3e889045565a9
	magicRequest   = 0x25609513
	magicSimpleRep = 0x67446698

	// Handshake flags (server) and client flags.
	flagFixedNewstyle = 1 << 0
	flagNoZeroes      = 1 << 1

	// Options.
	optExportName = 1
	optAbort      = 2
	optList       = 3
	optInfo       = 6
	optGo         = 7

	// Option replies.
	repAck          = 1
	repServer       = 2
	repInfo         = 3
	repErrUnsup     = 1<<31 + 1
	repErrPolicy    = 1<<31 + 2
	repErrInvalid   = 1<<31 + 3
	repErrUnknown   = 1<<31 + 6
	repErrShutdown  = 1<<31 + 7
	repErrTooBig    = 1<<31 + 9
	infoExport      = 0
	infoBlockSize   = 3
	maxOptionLength = 64 << 10

	// Transmission flags.
	tflagHasFlags        = 1 << 0
	tflagReadOnly        = 1 << 1
	tflagSendFlush       = 1 << 2
	tflagSendFUA         = 1 << 3
	tflagSendTrim        = 1 << 5
	tflagSendWriteZeroes = 1 << 6
	tflagCanMultiConn    = 1 << 8
	tflagSendFastZero    = 1 << 11

	// Commands and their flags.
	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdWriteZeroes = 6
	cmdFlagFUA     = 1 << 0
	cmdFlagNoHole  = 1 << 1
	cmdFlagFastZ   = 1 << 4

	// Error values.
	errPerm     = 1
	errIO       = 5
	errNoMem    = 12
	errInval    = 22
	errNoSpc    = 28
	errOverflow = 75
	errNotSup   = 95
	errShutdown = 108

	// Block size constraints we advertise: any alignment works (the pool
	// does read-modify-write below a chunk), 4 KiB is what performs, and
	// 32 MiB is the largest payload we buffer.
	minBlock       = 1
	preferredBlock = 4096
	maxPayload     = 32 << 20
)
