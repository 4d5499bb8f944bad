package tokens

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnknownModel is returned for a model name the table does not know and
// no override names.
var ErrUnknownModel = errors.New("unknown model")

// Model is what counting needs to know about a model: its encoding and the
// constants of OpenAI's chat, tool and image rules for its family.
type Model struct {
	// Name is the name looked up, normalised (lower case, no "ft:" or
	// provider prefix).
	Name string
	// Family is the table entry that matched, such as "gpt-4o" or
	// "gpt-35-turbo"; empty for a model known only through an override.
	Family   string
	Encoding *Encoding

	// PerMessage is added for every message, PerName when a message has a
	// name, Reply once for the reply primer (<|start|>assistant<|message|>).
	PerMessage, PerName, Reply int
	Tools                      ToolCosts
	Images                     ImageCosts

	// memo remembers long strings' counts (WithMemo); zero: none.
	memo Scoped
}

// ToolCosts are the constants of the OpenAI cookbook's tool-definition
// approximation (num_tokens_for_tools).
type ToolCosts struct {
	FuncInit, PropInit, PropKey, EnumInit, EnumItem, FuncEnd int
}

// ImageCosts says how a model charges for an image input. Tile models charge
// Base plus PerTile for each 512-pixel tile of the resized image, and Base
// alone for detail "low". Patch models (Patches set) charge for 32-pixel
// patches, at most MaxPatches, times Multiplier.
type ImageCosts struct {
	Base, PerTile int
	Patches       bool
	MaxPatches    int
	Multiplier    float64
}

var (
	tools4o  = ToolCosts{FuncInit: 7, PropInit: 3, PropKey: 3, EnumInit: -3, EnumItem: 3, FuncEnd: 12}
	tools35  = ToolCosts{FuncInit: 10, PropInit: 3, PropKey: 3, EnumInit: -3, EnumItem: 3, FuncEnd: 12}
	tiles85  = ImageCosts{Base: 85, PerTile: 170}
	tiles70  = ImageCosts{Base: 70, PerTile: 140}
	tiles75  = ImageCosts{Base: 75, PerTile: 150}
	tilesMin = ImageCosts{Base: 2833, PerTile: 5667}
)

func patches(mult float64) ImageCosts {
	return ImageCosts{Patches: true, MaxPatches: 1536, Multiplier: mult}
}

// family is one row of the model table. A name matches a row when it equals
// prefix or continues it with "-" (a dated or variant suffix such as
// "-2024-08-06" or "-mini"), or when prefix itself ends in "-" or ".".
// Longer prefixes are tried first, so "gpt-4o-mini" wins over "gpt-4o" and
// "gpt-4.1" over "gpt-4".
type family struct {
	prefix   string
	encoding string
	tools    ToolCosts
	images   ImageCosts
	// perMessage and perName default to 3 and 1.
	perMessage, perName int
}

// families is the model table. Encodings follow tiktoken's model table;
// gpt-35-turbo is Azure's spelling of gpt-3.5-turbo. Tool constants are the
// cookbook's for gpt-4o/gpt-4o-mini (o200k) and gpt-3.5-turbo/gpt-4 (cl100k);
// other o200k models use the gpt-4o constants, which the cookbook does not
// cover. Image constants are those OpenAI's vision guide publishes per model.
var families = []family{
	{prefix: "gpt-5", encoding: O200kBase, tools: tools4o, images: tiles70},
	{prefix: "gpt-5.", encoding: O200kBase, tools: tools4o, images: tiles70},
	{prefix: "gpt-5-chat", encoding: O200kBase, tools: tools4o, images: tiles70},
	{prefix: "gpt-5-mini", encoding: O200kBase, tools: tools4o, images: patches(1.62)},
	{prefix: "gpt-5-nano", encoding: O200kBase, tools: tools4o, images: patches(2.46)},
	{prefix: "gpt-4.1", encoding: O200kBase, tools: tools4o, images: tiles85},
	{prefix: "gpt-4.1-mini", encoding: O200kBase, tools: tools4o, images: patches(1.62)},
	{prefix: "gpt-4.1-nano", encoding: O200kBase, tools: tools4o, images: patches(2.46)},
	{prefix: "gpt-4.5", encoding: O200kBase, tools: tools4o, images: tiles85},
	{prefix: "gpt-4o", encoding: O200kBase, tools: tools4o, images: tiles85},
	{prefix: "gpt-4o-mini", encoding: O200kBase, tools: tools4o, images: tilesMin},
	{prefix: "chatgpt-4o", encoding: O200kBase, tools: tools4o, images: tiles85},
	{prefix: "o1", encoding: O200kBase, tools: tools4o, images: tiles75},
	{prefix: "o3", encoding: O200kBase, tools: tools4o, images: tiles75},
	{prefix: "o4-mini", encoding: O200kBase, tools: tools4o, images: patches(1.72)},
	{prefix: "gpt-oss", encoding: O200kBase, tools: tools4o, images: tiles85},
	{prefix: "codex-mini", encoding: O200kBase, tools: tools4o, images: patches(1.72)},
	{prefix: "gpt-4", encoding: Cl100kBase, tools: tools35, images: tiles85},
	{prefix: "gpt-3.5-turbo", encoding: Cl100kBase, tools: tools35, images: tiles85},
	{prefix: "gpt-35-turbo", encoding: Cl100kBase, tools: tools35, images: tiles85},
	{prefix: "gpt-3.5-turbo-0301", encoding: Cl100kBase, tools: tools35, images: tiles85, perMessage: 4, perName: -1},
	{prefix: "gpt-35-turbo-0301", encoding: Cl100kBase, tools: tools35, images: tiles85, perMessage: 4, perName: -1},
	{prefix: "text-embedding-ada-002", encoding: Cl100kBase, tools: tools35, images: tiles85},
	{prefix: "text-embedding-3", encoding: Cl100kBase, tools: tools35, images: tiles85},
}

func init() {
	sort.SliceStable(families, func(i, j int) bool { return len(families[i].prefix) > len(families[j].prefix) })
}

// normalizeModel lower-cases name and removes what is not part of the model:
// a fine-tune's "ft:" prefix and ":org:suffix", and a provider prefix such as
// "openai/" or "azure/".
func normalizeModel(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if rest, ok := strings.CutPrefix(n, "ft:"); ok {
		n, _, _ = strings.Cut(rest, ":")
	}
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

func matchFamily(n string) (family, bool) {
	for _, f := range families {
		if !strings.HasPrefix(n, f.prefix) {
			continue
		}
		if len(n) == len(f.prefix) || n[len(f.prefix)] == '-' || strings.HasSuffix(f.prefix, "-") || strings.HasSuffix(f.prefix, ".") {
			return f, true
		}
	}
	return family{}, false
}

// Table looks models up: the built-in families, and overrides from the
// gateway config that name a model's encoding. A Table is immutable; build a
// new one when the config changes.
type Table struct {
	overrides map[string]*Encoding
}

// NewTable returns a table with overrides, a map from model name to encoding
// name ("o200k_base" or "cl100k_base"). An override wins over the built-in
// table for that exact model (after normalisation), and makes a model the
// table does not know countable with the generic rules of its encoding. All
// bad entries are reported at once.
func NewTable(overrides map[string]string) (*Table, error) {
	t := &Table{overrides: map[string]*Encoding{}}
	names := make([]string, 0, len(overrides))
	for m := range overrides {
		names = append(names, m)
	}
	sort.Strings(names)
	var errs []error
	for _, m := range names {
		if normalizeModel(m) == "" {
			errs = append(errs, fmt.Errorf("model %q: empty model name", m))
			continue
		}
		enc, err := GetEncoding(overrides[m])
		if err != nil {
			errs = append(errs, fmt.Errorf("model %q: %w", m, err))
			continue
		}
		t.overrides[normalizeModel(m)] = enc
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// Lookup returns the model's counting rules, or an error wrapping
// ErrUnknownModel.
func (t *Table) Lookup(name string) (*Model, error) {
	n := normalizeModel(name)
	f, known := matchFamily(n)
	enc, overridden := t.overrides[n]
	switch {
	case !known && !overridden:
		return nil, fmt.Errorf("%w %q: set its encoding in the gateway config", ErrUnknownModel, name)
	case !known:
		// Generic rules of the encoding's generation.
		f = family{encoding: enc.Name(), tools: tools4o, images: tiles85}
		if enc.Name() == Cl100kBase {
			f.tools = tools35
		}
	}
	if !overridden {
		var err error
		if enc, err = GetEncoding(f.encoding); err != nil {
			return nil, err
		}
	}
	m := &Model{Name: n, Family: f.prefix, Encoding: enc, PerMessage: 3, PerName: 1, Reply: 3, Tools: f.tools, Images: f.images}
	if f.perMessage != 0 {
		m.PerMessage, m.PerName = f.perMessage, f.perName
	}
	return m, nil
}

var defaultTable = &Table{}

// LookupModel looks name up in the built-in table, without overrides.
func LookupModel(name string) (*Model, error) { return defaultTable.Lookup(name) }

// EncodingForModel returns the encoding of a model in the built-in table.
func EncodingForModel(name string) (*Encoding, error) {
	m, err := defaultTable.Lookup(name)
	if err != nil {
		return nil, err
	}
	return m.Encoding, nil
}
