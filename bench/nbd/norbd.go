//go:build !ceph

package main

import (
	"errors"
	"time"
)

func runRBD(string, string, time.Duration, string, int) error {
	return errors.New("-ceph needs a binary built with Ceph support: go run -tags 'ceph pacific' ./bench/nbd -ceph CONF")
}
