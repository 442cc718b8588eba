package nfs

// Conns is the number of client connections open now, for the node's
// metrics.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}
