package tokens

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math"
)

// Remote images are not fetched: their size is unknown when the request
// arrives, so they are charged as if they were RemoteImageWidth x
// RemoteImageHeight, a 4:3 picture that high detail keeps at 1024x768 (four
// tiles, 765 tokens on gpt-4o). The count is then marked Estimated.
const (
	RemoteImageWidth  = 1024
	RemoteImageHeight = 768
)

// imageTokens returns the cost of one image of w x h pixels at detail
// ("low", "high", "auto" or ""). "auto" and "" are charged as "high": the
// model may pick either, and high is the larger.
func (c ImageCosts) imageTokens(w, h int, detail string) int {
	if c.Patches {
		return c.patchTokens(w, h)
	}
	if detail == "low" {
		return c.Base
	}
	return c.Base + c.PerTile*tiles(w, h)
}

// tiles is the cookbook's high-detail resize: fit within 2048x2048, then
// scale the short side down to 768, then count 512-pixel tiles.
func tiles(w, h int) int {
	if w <= 0 || h <= 0 {
		return 0
	}
	fw, fh := float64(w), float64(h)
	if fw > 2048 || fh > 2048 {
		aspect := fw / fh
		if aspect > 1 {
			fw, fh = 2048, math.Trunc(2048/aspect)
		} else {
			fw, fh = math.Trunc(2048*aspect), 2048
		}
	}
	if fw >= fh && fh > 768 {
		fw, fh = math.Trunc(768/fh*fw), 768
	} else if fh > fw && fw > 768 {
		fw, fh = 768, math.Trunc(768/fw*fh)
	}
	return int(math.Ceil(fw/512) * math.Ceil(fh/512))
}

// patchTokens is the 32-pixel patch rule of OpenAI's vision guide: an image
// with more than MaxPatches patches is scaled down to fit, and the patch count
// is multiplied by the model's multiplier. Detail does not change it.
func (c ImageCosts) patchTokens(w, h int) int {
	if w <= 0 || h <= 0 {
		return 0
	}
	fw, fh := float64(w), float64(h)
	n := math.Ceil(fw/32) * math.Ceil(fh/32)
	if n > float64(c.MaxPatches) {
		r := math.Sqrt(32 * 32 * float64(c.MaxPatches) / (fw * fh))
		r *= math.Min(math.Floor(fw*r/32)/(fw*r/32), math.Floor(fh*r/32)/(fh*r/32))
		// The scaled side that set r is a whole number of patches in exact
		// arithmetic; the tolerance keeps rounding error from adding one.
		const eps = 1e-9
		n = math.Min(math.Ceil(fw*r/32-eps)*math.Ceil(fh*r/32-eps), float64(c.MaxPatches))
	}
	return int(math.Ceil(n * c.Multiplier))
}

// dataURLImageSize reads the pixel size of a base64 data URL holding a PNG,
// JPEG, GIF or WebP image from its header, decoding only as much base64 as
// the header needs (for JPEG, up to its frame header, skipping other
// segments). ok is false for anything else or a damaged header.
func dataURLImageSize(url []byte) (w, h int, ok bool) {
	rest, found := bytes.CutPrefix(url, []byte("data:"))
	if !found {
		return 0, 0, false
	}
	meta, data, found := bytes.Cut(rest, []byte(","))
	if !found || !bytes.HasSuffix(meta, []byte(";base64")) {
		return 0, 0, false
	}
	r := bufio.NewReaderSize(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(data)), 512)
	head, err := r.Peek(30)
	if err != nil && len(head) < 10 {
		return 0, 0, false
	}
	switch {
	case len(head) >= 24 && string(head[:8]) == "\x89PNG\r\n\x1a\n" && string(head[12:16]) == "IHDR":
		return int(binary.BigEndian.Uint32(head[16:])), int(binary.BigEndian.Uint32(head[20:])), true
	case string(head[:6]) == "GIF87a" || string(head[:6]) == "GIF89a":
		return int(binary.LittleEndian.Uint16(head[6:])), int(binary.LittleEndian.Uint16(head[8:])), true
	case len(head) >= 30 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return webpSize(head)
	case head[0] == 0xFF && head[1] == 0xD8:
		return jpegSize(r)
	}
	return 0, 0, false
}

// webpSize reads the canvas size from the first chunk of a WebP file (its
// first 30 bytes).
func webpSize(b []byte) (w, h int, ok bool) {
	switch string(b[12:16]) {
	case "VP8 ": // lossy: frame tag, start code 9d 01 2a, 14-bit sizes
		if b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a {
			return 0, 0, false
		}
		return int(binary.LittleEndian.Uint16(b[26:]) & 0x3fff), int(binary.LittleEndian.Uint16(b[28:]) & 0x3fff), true
	case "VP8L": // lossless: signature 0x2f, then 14 bits each of width-1 and height-1
		if b[20] != 0x2f {
			return 0, 0, false
		}
		v := binary.LittleEndian.Uint32(b[21:])
		return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1, true
	case "VP8X": // extended: 24-bit canvas width-1 and height-1 after 4 bytes of flags
		return int(uint32(b[24])|uint32(b[25])<<8|uint32(b[26])<<16) + 1,
			int(uint32(b[27])|uint32(b[28])<<8|uint32(b[29])<<16) + 1, true
	}
	return 0, 0, false
}

// jpegSize walks JPEG segments to the first start-of-frame marker.
func jpegSize(r *bufio.Reader) (w, h int, ok bool) {
	if _, err := r.Discard(2); err != nil {
		return 0, 0, false
	}
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, 0, false
		}
		if b != 0xFF {
			return 0, 0, false
		}
		marker, err := r.ReadByte()
		for err == nil && marker == 0xFF { // fill bytes
			marker, err = r.ReadByte()
		}
		if err != nil {
			return 0, 0, false
		}
		if marker == 0x01 || marker >= 0xD0 && marker <= 0xD8 { // no length
			continue
		}
		var lenBuf [2]byte
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return 0, 0, false
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if n < 2 {
			return 0, 0, false
		}
		if marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC {
			var sof [5]byte // precision, height, width
			if _, err := io.ReadFull(r, sof[:]); err != nil {
				return 0, 0, false
			}
			return int(binary.BigEndian.Uint16(sof[3:])), int(binary.BigEndian.Uint16(sof[1:])), true
		}
		if _, err := r.Discard(n - 2); err != nil {
			return 0, 0, false
		}
	}
}
