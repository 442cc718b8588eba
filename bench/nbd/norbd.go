//go:build !ceph

package main

import (
	"errors"
	"time"
)

func runRBD(string, string, int64, int64, time.Duration, int) error {
	return errors.New("-ceph needs a binary built with Ceph support: go run -tags 'ceph pacific' ./bench/nbd -ceph CONF")
}
