package capacity

// SetOptions replaces the model's options, as a config reload does; zero
// fields take the defaults. Waiters already queued keep their deadline.
func (m *Model) SetOptions(o Options) {
	m.mu.Lock()
	m.opts = o.withDefaults()
	m.mu.Unlock()
}
