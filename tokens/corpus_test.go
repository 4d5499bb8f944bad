package tokens

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file generates test text: a mixed corpus of the kinds of text prompts
// carry (English, Spanish, code, JSON, CJK, emoji), recombined at random so
// every call gives fresh text, and an adversarial generator for the
// differential tests.

var (
	englishWords = strings.Fields(`the of and to in is you that it he was for on are as with his they I at be this have from
or one had by word but not what all were we when your can said there use an each which she do how their if will up
other about out many then them these so some her would make like him into time has look two more write go see number
no way could people my than first water been call who oil its now find long down day did get come made may part
summarize following document carefully answer question customer support request invoice payment deployment capacity
throughput latency gateway request response model token budget quota region subscription backend provisioned standard
don't it's we're they've I'll she'd can't won't isn't HTTP API JSON YAML Kubernetes OpenAI Azure GPT-4o TPM RPM PTU`)
	spanishWords = strings.Fields(`el la de que y a en un ser se no haber por con su para como estar tener le lo todo pero más hacer o
poder decir este ir otro ese si me ya ver porque dar cuando muy sin vez mucho saber qué sobre mi alguno mismo yo
también hasta año dos querer entre así primero desde grande eso ni nos llegar pasar tiempo ella sí día uno bien poco
deber entonces poner cosa tanto hombre parecer nuestro tan donde ahora parte después vida quedar siempre creer
hablar llevar dejar nada cada seguir menos nuevo encontrar algo solo pues llamar venir pensar salir volver tomar
conocer vivir sentir tratar mirar contar empezar esperar buscar existir entrar trabajar escribir perder producir
ocurrir entender pedir recibir recordar terminar permitir aparecer conseguir comenzar servir sacar necesitar
mantener resultar leer caer cambiar presentar crear abrir considerar oír acabar convertir ganar formar traer partir
morir aceptar realizar suponer comprender lograr explicar señor niño corazón acción información educación
jamás también árbol pingüino cigüeña mañana año español ¿cómo ¡hola`)
	cjkText    = []rune(`的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从知识数据模型网关请求响应令牌配额日本語のテキストです今日は良い天気ですね한국어텍스트입니다안녕하세요`)
	cjkPunct   = []string{"，", "。", "、", "！", "？", "「", "」", "：", "；", " ", "\n"}
	emojis     = []string{"😀", "🚀", "❤️", "👍🏽", "👩‍👩‍👧‍👦", "🇫🇷", "🇯🇵", "✅", "🔥", "🤖", "👨🏿‍💻", "🏳️‍🌈", "1️⃣", "🧑‍🤝‍🧑", "😂😂😂", "✨"}
	codeIdents = strings.Fields(`ctx err req resp tokens count enc backend window cfg logger buf n i j k len cap append make return
if for range func var const type struct interface map string int64 uint32 bool nil true false http json time`)
	punctuation = []string{".", ",", "!", "?", ";", ":", " -", " (", ")", "\"", "'", "...", " —", "\n", "\n\n", "  ", "\t"}
)

// mixedText appends about n bytes of mixed text to dst.
func mixedText(r *rand.Rand, dst []byte, n int) []byte {
	for start := len(dst); len(dst)-start < n; {
		switch k := r.IntN(100); {
		case k < 35:
			dst = prose(r, dst, englishWords)
		case k < 50:
			dst = prose(r, dst, spanishWords)
		case k < 65:
			dst = code(r, dst)
		case k < 80:
			dst = jsonDoc(r, dst, 0)
			dst = append(dst, '\n')
		case k < 92:
			dst = cjk(r, dst)
		default:
			dst = emojiProse(r, dst)
		}
	}
	return dst
}

func prose(r *rand.Rand, dst []byte, words []string) []byte {
	for s := 1 + r.IntN(4); s > 0; s-- {
		for w := 3 + r.IntN(14); w > 0; w-- {
			word := words[r.IntN(len(words))]
			if r.IntN(12) == 0 {
				first, size := utf8.DecodeRuneInString(word)
				word = string(unicode.ToUpper(first)) + word[size:]
			}
			dst = append(dst, word...)
			if r.IntN(8) == 0 {
				dst = append(dst, punctuation[r.IntN(len(punctuation))]...)
			}
			dst = append(dst, ' ')
		}
		if r.IntN(5) == 0 {
			dst = fmt.Appendf(dst, "%d ", r.IntN(100000))
		}
		dst = append(dst[:len(dst)-1], ". "...)
	}
	return append(dst, "\n"[:r.IntN(2)]...)
}

func code(r *rand.Rand, dst []byte) []byte {
	id := func() string { return codeIdents[r.IntN(len(codeIdents))] }
	dst = fmt.Appendf(dst, "func %s%s(%s %s) (%s, error) {\n", id(), strings.Title(id()), id(), id(), id())
	for l := 2 + r.IntN(8); l > 0; l-- {
		switch r.IntN(4) {
		case 0:
			dst = fmt.Appendf(dst, "\tif %s != nil {\n\t\treturn %s, fmt.Errorf(\"%s %s: %%w\", err)\n\t}\n", id(), id(), id(), id())
		case 1:
			dst = fmt.Appendf(dst, "\t%s := %s.%s(%s[%d:])\n", id(), id(), strings.Title(id()), id(), r.IntN(64))
		case 2:
			dst = fmt.Appendf(dst, "\tfor %s := 0; %s < len(%s); %s++ {\n\t\t%s += %d\n\t}\n", id(), id(), id(), id(), id(), r.IntN(1000))
		default:
			dst = fmt.Appendf(dst, "\t// %s %s %s\n", id(), id(), id())
		}
	}
	return append(dst, "}\n\n"...)
}

func jsonDoc(r *rand.Rand, dst []byte, depth int) []byte {
	dst = append(dst, '{')
	for f := 1 + r.IntN(5); f > 0; f-- {
		dst = fmt.Appendf(dst, "%q: ", englishWords[r.IntN(len(englishWords))])
		switch k := r.IntN(6); {
		case k == 0 && depth < 2:
			dst = jsonDoc(r, dst, depth+1)
		case k == 1:
			dst = fmt.Appendf(dst, "[%d, %d, %.3f]", r.IntN(1000), r.IntN(1e6), r.Float64()*100)
		case k == 2:
			dst = append(dst, "true"...)
		default:
			dst = fmt.Appendf(dst, "%q", spanishWords[r.IntN(len(spanishWords))]+" "+englishWords[r.IntN(len(englishWords))])
		}
		if f > 1 {
			dst = append(dst, ", "...)
		}
	}
	return append(dst, '}')
}

func cjk(r *rand.Rand, dst []byte) []byte {
	for c := 10 + r.IntN(60); c > 0; c-- {
		dst = utf8.AppendRune(dst, cjkText[r.IntN(len(cjkText))])
		if r.IntN(7) == 0 {
			dst = append(dst, cjkPunct[r.IntN(len(cjkPunct))]...)
		}
	}
	return append(dst, "。\n"...)
}

func emojiProse(r *rand.Rand, dst []byte) []byte {
	for w := 3 + r.IntN(10); w > 0; w-- {
		if r.IntN(3) == 0 {
			dst = append(dst, emojis[r.IntN(len(emojis))]...)
		} else {
			dst = append(dst, englishWords[r.IntN(len(englishWords))]...)
		}
		dst = append(dst, ' ')
	}
	return append(dst, '\n')
}

// adversarialText returns a short string built to exercise the split
// patterns' edges: runs, mixed classes, marks, case changes, contractions,
// odd whitespace, unusual scripts and invalid UTF-8.
func adversarialText(r *rand.Rand) string {
	var b []byte
	for parts := 1 + r.IntN(12); parts > 0; parts-- {
		frag := fragments[r.IntN(len(fragments))]
		for rep := 1 + r.IntN(3)*r.IntN(4); rep > 0; rep-- {
			b = append(b, frag...)
		}
		if r.IntN(3) == 0 {
			b = utf8.AppendRune(b, randomRune(r))
		}
	}
	return string(b)
}

var fragments = []string{
	" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n ", "\u00a0", "\u3000", "\u2028", "\v", "\f", "\u0085",
	"a", "A", "ab", "AB", "Ab", "aB", "hello", "HELLO", "Hello", "iPhone", "ǅ", "ʰ", "ſ", "ß", "ǈa", "ΣΑΣ", "вот",
	"'", "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'LL", "'d", "'x", "'ſ", "''",
	"0", "1", "12", "123", "1234", "١٢٣", "Ⅻ", "½", "²", "߀",
	"!", "?", ".", ",", "/", "//", "\\", "-", "--", "==", "(", ")", "{", "}", "\"", "<|endoftext|>", "<|", "|>",
	"\u0301", "\u0308", "\u093f", "\u200d", "\ufe0f", "\U0001F3FD", "é", "é", "नमस्ते", "ดี",
	"日本", "中文", "한국", "ー", "〆", "😀", "👩‍👩‍👧‍👦", "🇫🇷", "❤️", "1️⃣",
	"\xff", "\xfe", "\xe2\x82", "\xed\xa0\x80", "\xf0\x9f\x98", "\xc3", "\x80", "\xc0\xaf", "\x00",
}

func randomRune(r *rand.Rand) rune {
	ranges := [][2]rune{{0x20, 0x7f}, {0xa0, 0x250}, {0x300, 0x370}, {0x370, 0x530}, {0x590, 0x700},
		{0x900, 0xe00}, {0x1100, 0x1200}, {0x1e00, 0x2100}, {0x2100, 0x2c00}, {0x3000, 0x3100},
		{0x4e00, 0x9fff}, {0xac00, 0xd7a3}, {0xfb00, 0xfffd}, {0x10000, 0x10400}, {0x1d400, 0x1d800},
		{0x1f000, 0x1faff}, {0x20000, 0x20100}, {0xe0000, 0xe0080}}
	rg := ranges[r.IntN(len(ranges))]
	return rg[0] + r.Int32N(rg[1]-rg[0])
}
