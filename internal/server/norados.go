//go:build !ceph

package server

import "context"

func (s *Server) openRADOS(context.Context) (objectBodies, error) { return nil, errNoCeph }
