package objectstore

import "syscall"

const syscallENOSPC = syscall.ENOSPC
