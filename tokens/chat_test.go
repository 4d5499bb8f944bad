package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"strings"
	"testing"
)

func mustModel(t testing.TB, name string) *Model {
	t.Helper()
	m, err := LookupModel(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCountChatCookbook checks the OpenAI cookbook's examples, whose counts
// the API itself reported: the six-message "corporate jargon" translator and
// the weather tool.
func TestCountChatCookbook(t *testing.T) {
	cases := []struct {
		file, model string
		want        int
	}{
		{"cookbook_jargon.json", "gpt-3.5-turbo", 129},
		{"cookbook_jargon.json", "gpt-35-turbo-0125", 129},
		{"cookbook_jargon.json", "gpt-4", 129},
		{"cookbook_jargon.json", "gpt-4-0613", 129},
		{"cookbook_jargon.json", "gpt-4o", 124},
		{"cookbook_jargon.json", "gpt-4o-mini", 124},
		{"cookbook_jargon.json", "gpt-4o-2024-08-06", 124},
		{"cookbook_jargon.json", "gpt-3.5-turbo-0301", 127},
		{"cookbook_tools.json", "gpt-3.5-turbo", 105},
		{"cookbook_tools.json", "gpt-4", 105},
		{"cookbook_tools.json", "gpt-4o", 101},
		{"cookbook_tools.json", "gpt-4o-mini", 101},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.model, func(t *testing.T) {
			c, err := CountChat(mustModel(t, tc.model), readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if c.Prompt != tc.want {
				t.Errorf("Prompt = %d, want %d (%+v)", c.Prompt, tc.want, c)
			}
			if c.Estimated {
				t.Errorf("Estimated = true, want false")
			}
		})
	}
}

func TestCountChatRules(t *testing.T) {
	m := mustModel(t, "gpt-4o")
	tok := func(s string) int { return m.Encoding.CountString(s) }
	cases := []struct {
		name, body string
		want       ChatCount
	}{
		{
			name: "string content",
			body: `{"messages":[{"role":"user","content":"Hello there"}]}`,
			want: ChatCount{Prompt: 3 + tok("user") + tok("Hello there") + 3, N: 1},
		},
		{
			name: "content parts and name",
			body: `{"messages":[{"role":"user","name":"bob","content":[{"type":"text","text":"Hello"},{"type":"text","text":" world"}]}]}`,
			want: ChatCount{Prompt: 3 + tok("user") + tok("bob") + 1 + tok("Hello") + tok(" world") + 3, N: 1},
		},
		{
			name: "null content and tool calls",
			body: `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"call_1","content":"42"}]}`,
			want: ChatCount{Prompt: 3 + tok("assistant") + tok("call_1") + tok("function") + tok("f") + tok(`{"a":1}`) +
				3 + tok("tool") + tok("call_1") + tok("42") + 3, N: 1},
		},
		{
			name: "special token text is ordinary",
			body: `{"messages":[{"role":"user","content":"<|endoftext|>"}]}`,
			want: ChatCount{Prompt: 3 + tok("user") + tok("<|endoftext|>") + 3, N: 1},
		},
		{
			name: "max_completion_tokens wins over max_tokens, n",
			body: `{"messages":[],"max_tokens":100,"max_completion_tokens":200,"n":3}`,
			want: ChatCount{Prompt: 3, MaxTokens: 200, MaxTokensSet: true, N: 3},
		},
		{
			name: "max_tokens, null n",
			body: `{"messages":[],"max_tokens":50,"n":null}`,
			want: ChatCount{Prompt: 3, MaxTokens: 50, MaxTokensSet: true, N: 1},
		},
		{
			name: "low detail image",
			body: `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}}]}]}`,
			want: ChatCount{Prompt: 3 + tok("user") + 85 + 3, Images: 85, N: 1},
		},
		{
			name: "remote image is estimated",
			body: `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`,
			want: ChatCount{Prompt: 3 + tok("user") + 765 + 3, Images: 765, N: 1, Estimated: true},
		},
		{
			name: "audio is estimated",
			body: `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`,
			want: ChatCount{Prompt: 3 + tok("user") + 3, N: 1, Estimated: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CountChat(m, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got.Messages, got.Tools = 0, 0 // checked through Prompt
			if got != tc.want {
				t.Errorf("CountChat = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCountChatImages(t *testing.T) {
	cases := []struct {
		name, model string
		w, h        int
		format      string
		detail      string
		want        int
	}{
		// Cookbook / vision guide examples for the 85/170 tile rule.
		{"1024 square high", "gpt-4o", 1024, 1024, "png", "high", 765},
		{"2048x4096 high", "gpt-4o", 2048, 4096, "png", "high", 1105},
		{"1024x2048 jpeg", "gpt-4o", 1024, 2048, "jpeg", "high", 1105},
		{"small image high", "gpt-4o", 100, 100, "gif", "auto", 255},
		{"low detail", "gpt-4o", 4000, 3000, "png", "low", 85},
		{"gpt-5 constants", "gpt-5", 512, 512, "png", "high", 70 + 140},
		{"o3 constants", "o3-2025-04-16", 512, 513, "png", "high", 75 + 2*150},
		{"jpeg 4:3", "gpt-4.1", 1600, 1200, "jpeg", "", 765},
		{"gpt-4o-mini constants", "gpt-4o-mini", 1024, 1024, "png", "high", 2833 + 4*5667},
		{"patch model small", "gpt-4.1-mini", 1024, 1024, "png", "high", 1659},  // 1024 patches x 1.62
		{"patch model scaled", "gpt-4.1-mini", 1800, 2400, "png", "high", 2353}, // 1452 patches x 1.62, the vision guide's example
		{"patch model nano", "gpt-4.1-nano", 1800, 2400, "png", "low", 3572},    // 1452 x 2.46
		{"patch model o4-mini", "o4-mini", 64, 64, "gif", "high", 7},            // 4 x 1.72
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := dataURL(t, tc.format, tc.w, tc.h)
			body := fmt.Sprintf(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":%q,"detail":%q}}]}]}`, url, tc.detail)
			c, err := CountChat(mustModel(t, tc.model), []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if c.Images != tc.want || c.Estimated {
				t.Errorf("Images = %d (estimated %v), want %d", c.Images, c.Estimated, tc.want)
			}
		})
	}
}

// dataURL returns a data URL of a real w x h image; a PNG larger than a
// megapixel is only its signature and header chunk, which is all that is read.
func dataURL(t testing.TB, format string, w, h int) string {
	t.Helper()
	if format == "png" && w*h > 1<<20 {
		b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
		b = binary.BigEndian.AppendUint32(b, uint32(w))
		b = binary.BigEndian.AppendUint32(b, uint32(h))
		b = append(b, 8, 0, 0, 0, 0, 0, 0, 0, 0)
		return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b)
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, image.NewPaletted(img.Rect, color.Palette{color.Black, color.White}), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return "data:image/" + format + ";base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestDataURLImageSize(t *testing.T) {
	webp := func(b []byte) string { return "data:image/webp;base64," + base64.StdEncoding.EncodeToString(b) }
	riff := func(chunk string, payload ...byte) []byte {
		b := append([]byte("RIFF\x00\x00\x00\x00WEBP"+chunk+"\x00\x00\x00\x00"), payload...)
		return append(b, make([]byte, 16)...)
	}
	jpegWithExif := func() string {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 33, 17)), nil); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		app1 := append([]byte{0xFF, 0xE1, 0x10, 0x02}, make([]byte, 0x1000)...) // a 4 KiB APP1 segment
		b = append(append(append([]byte{}, b[:2]...), app1...), b[2:]...)
		return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b)
	}
	cases := []struct {
		name, url string
		w, h      int
		ok        bool
	}{
		{"png", dataURL(t, "png", 640, 480), 640, 480, true},
		{"jpeg", dataURL(t, "jpeg", 300, 200), 300, 200, true},
		{"jpeg after a big segment", jpegWithExif(), 33, 17, true},
		{"gif", dataURL(t, "gif", 7, 9), 7, 9, true},
		{"webp lossy", webp(riff("VP8 ", 0, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01)), 640, 480, true},
		{"webp lossless", webp(riff("VP8L", 0x2f, 0x7f, 0xc2, 0x77, 0x00)), 640, 480, true},
		{"webp extended", webp(riff("VP8X", 0, 0, 0, 0, 0x7f, 0x07, 0x00, 0x37, 0x04, 0x00)), 1920, 1080, true},
		{"remote", "https://example.com/x.png", 0, 0, false},
		{"not base64", "data:image/png,abc", 0, 0, false},
		{"garbage", "data:image/png;base64,!!!!", 0, 0, false},
		{"truncated png", "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n")), 0, 0, false},
		{"unknown format", "data:image/bmp;base64," + base64.StdEncoding.EncodeToString([]byte("BM0123456789012345678901234567890")), 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, h, ok := dataURLImageSize([]byte(tc.url))
			if w != tc.w || h != tc.h || ok != tc.ok {
				t.Errorf("dataURLImageSize = %d, %d, %v; want %d, %d, %v", w, h, ok, tc.w, tc.h, tc.ok)
			}
		})
	}
}

func TestCountChatErrors(t *testing.T) {
	m := mustModel(t, "gpt-4o")
	cases := map[string]string{
		"not json":            `{"messages":`,
		"not an object":       `[1,2]`,
		"no messages":         `{"model":"gpt-4o"}`,
		"messages not array":  `{"messages":"hi"}`,
		"message not object":  `{"messages":["hi"]}`,
		"null message":        `{"messages":[null]}`,
		"content object":      `{"messages":[{"role":"user","content":{"a":1}}]}`,
		"part not object":     `{"messages":[{"role":"user","content":[1]}]}`,
		"image without url":   `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`,
		"image_url number":    `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":5}]}]}`,
		"negative max_tokens": `{"messages":[],"max_tokens":-1}`,
		"fractional n":        `{"messages":[],"n":1.5}`,
		"zero n":              `{"messages":[],"n":0}`,
		"string max":          `{"messages":[],"max_completion_tokens":"10"}`,
		"tools not array":     `{"messages":[],"tools":{}}`,
		"tool without name":   `{"messages":[],"tools":[{"type":"function","function":{"description":"x"}}]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := CountChat(m, []byte(body))
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
			if strings.Contains(err.Error(), "interface") || strings.Contains(err.Error(), "Go ") {
				t.Errorf("error %q leaks Go details", err)
			}
		})
	}
}

func FuzzCountChat(f *testing.F) {
	for _, name := range []string{"cookbook_jargon.json", "cookbook_tools.json"} {
		f.Add(readTestdata(f, name))
	}
	for _, s := range []string{
		`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNiAAAABgADNjd8qAAAAABJRU5ErkJggg==","detail":"high"}}]}],"n":2,"max_tokens":10}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]}]}`,
		`{"messages":[{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}}],"functions":[{"name":"f","parameters":{"properties":{"a":{"type":["string","null"],"enum":[1,"x",null]}}}}]}`,
		`{"messages":[{"role":"user","content":"\ud800 \u0000 <|endoftext|>"}],"max_completion_tokens":1e3}`,
		`{"messages":[]}`, `{}`, `null`, `[]`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	m := mustModel(f, "gpt-4o")
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := CountChat(m, body)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if c.Prompt < m.Reply || c.Prompt != c.Messages+c.Tools+c.Images || c.N < 1 || c.MaxTokens < 0 {
			t.Fatalf("inconsistent count %+v", c)
		}
	})
}
