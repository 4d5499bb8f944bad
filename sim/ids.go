package sim

// newRequestID returns a UUID-shaped id, unique per request and repeatable for a seed.
func (s *Server) newRequestID() string {
	n := s.ids.Add(1)
	a, b := splitmix(s.cfg.Seed^n), splitmix(s.cfg.Seed+n*0x9e3779b97f4a7c15)
	var buf [36]byte
	const hexd = "0123456789abcdef"
	j := 0
	for i := range 16 {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf[j] = '-'
			j++
		}
		var v byte
		if i < 8 {
			v = byte(a >> (8 * i))
		} else {
			v = byte(b >> (8 * (i - 8)))
		}
		buf[j], buf[j+1] = hexd[v>>4], hexd[v&15]
		j += 2
	}
	return string(buf[:])
}

// chatID returns "chatcmpl-" and 29 alphanumerics derived from draw.
func chatID(draw uint64) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var buf [9 + 29]byte
	copy(buf[:], "chatcmpl-")
	x := draw
	for i := 9; i < len(buf); i++ {
		if (i-9)%10 == 0 {
			x = splitmix(x + uint64(i))
		}
		buf[i] = alnum[x%uint64(len(alnum))]
		x /= uint64(len(alnum))
	}
	return string(buf[:])
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
