package planner

import (
	"fmt"
	"sort"
	"strings"
)

// Model describes the network being trained. Dense models leave Experts at
// zero and ActiveParams equal to Params (or zero, which means the same).
type Model struct {
	Name         string  `json:"name" yaml:"name"`
	Params       float64 `json:"params" yaml:"params"`                        // all parameters, embeddings included
	ActiveParams float64 `json:"active_params,omitempty" yaml:"activeParams"` // parameters used per token; 0 = Params
	Layers       int     `json:"layers" yaml:"layers"`                        // transformer blocks
	Hidden       int     `json:"hidden" yaml:"hidden"`                        // model width h
	Heads        int     `json:"heads,omitempty" yaml:"heads"`                // attention heads; 0 = Hidden/128
	SeqLen       int     `json:"seq_len" yaml:"seqLen"`                       // training sequence length s
	Vocab        int     `json:"vocab" yaml:"vocab"`                          // vocabulary size
	Experts      int     `json:"experts,omitempty" yaml:"experts"`            // routed experts per MoE layer; 0 = dense
	TopK         int     `json:"top_k,omitempty" yaml:"topK"`                 // routed experts per token
	MoELayers    int     `json:"moe_layers,omitempty" yaml:"moeLayers"`       // MoE blocks; 0 = all layers when Experts > 0
	RouteDomains int     `json:"route_domains,omitempty" yaml:"routeDomains"` // node-limited routing: at most this many remote domains per token; 0 = no limit
	AttnDim      int     `json:"attn_dim,omitempty" yaml:"attnDim"`           // mean of the Q·K and A·V widths over all heads; 0 = Hidden
}

// IsMoE reports whether the model has routed experts.
func (m Model) IsMoE() bool { return m.Experts > 0 }

// active returns the parameters touched by one token.
func (m Model) active() float64 {
	if m.ActiveParams > 0 {
		return m.ActiveParams
	}
	return m.Params
}

// heads returns the attention head count, defaulting to a head size of 128.
func (m Model) heads() int {
	if m.Heads > 0 {
		return m.Heads
	}
	if h := m.Hidden / 128; h > 0 {
		return h
	}
	return 1
}

func (m Model) attnDim() float64 {
	if m.AttnDim > 0 {
		return float64(m.AttnDim)
	}
	return float64(m.Hidden)
}

func (m Model) moeLayers() int {
	if !m.IsMoE() {
		return 0
	}
	if m.MoELayers > 0 {
		return m.MoELayers
	}
	return m.Layers
}

// ExpertParams returns the parameters held in routed experts. With E experts
// of which k are used per token, active = dense + experts·k/E and total =
// dense + experts, so experts = (total − active)·E/(E − k).
func (m Model) ExpertParams() float64 {
	if !m.IsMoE() || m.Experts <= m.TopK {
		return 0
	}
	e := (m.Params - m.active()) * float64(m.Experts) / float64(m.Experts-m.TopK)
	if e < 0 {
		return 0
	}
	return e
}

// DenseParams returns the parameters every token uses (attention, shared
// experts, embeddings): Params − ExpertParams.
func (m Model) DenseParams() float64 { return m.Params - m.ExpertParams() }

// Validate returns what is wrong with the model, naming the flag to fix.
func (m Model) Validate() error {
	var probs []string
	if !(m.Params > 0) {
		probs = append(probs, "--params must be more than 0")
	}
	if m.ActiveParams < 0 || m.ActiveParams > m.Params {
		probs = append(probs, fmt.Sprintf("--active-params %g must be between 0 and --params %g", m.ActiveParams, m.Params))
	}
	if m.Layers <= 0 {
		probs = append(probs, "--layers must be more than 0")
	}
	if m.Hidden <= 0 {
		probs = append(probs, "--hidden must be more than 0")
	}
	if m.SeqLen <= 0 {
		probs = append(probs, "--seq must be more than 0")
	}
	if m.Vocab < 0 {
		probs = append(probs, "--vocab must not be negative")
	}
	if m.Heads < 0 || (m.Heads > 0 && m.Hidden%m.Heads != 0) {
		probs = append(probs, fmt.Sprintf("--heads %d must divide --hidden %d", m.Heads, m.Hidden))
	}
	if m.Experts < 0 || m.TopK < 0 || m.MoELayers < 0 || m.RouteDomains < 0 || m.AttnDim < 0 {
		probs = append(probs, "--experts, --top-k, --moe-layers, --route-domains and --attn-dim must not be negative")
	}
	if m.IsMoE() {
		if m.TopK == 0 || m.TopK >= m.Experts {
			probs = append(probs, fmt.Sprintf("--top-k %d must be at least 1 and less than --experts %d", m.TopK, m.Experts))
		}
		if m.ActiveParams == 0 || m.ActiveParams >= m.Params {
			probs = append(probs, "a mixture-of-experts model needs --active-params below --params")
		}
		if m.MoELayers > m.Layers {
			probs = append(probs, fmt.Sprintf("--moe-layers %d exceeds --layers %d", m.MoELayers, m.Layers))
		}
	} else if m.ActiveParams > 0 && m.ActiveParams != m.Params {
		probs = append(probs, "a dense model (--experts 0) has --active-params equal to --params; set --experts and --top-k for a mixture of experts")
	}
	if len(probs) > 0 {
		return inputErrorf("model %q: %s", m.Name, strings.Join(probs, "; "))
	}
	return nil
}

// Built-in model shapes. Figures are the published architectures; see
// docs/planner-sources.md.
var presets = map[string]Model{
	// Llama 3.1 405B (arXiv 2407.21783, Table 3).
	"llama3-405b": {Name: "llama3-405b", Params: 405e9, Layers: 126, Hidden: 16384, Heads: 128, SeqLen: 8192, Vocab: 128256},
	// Llama 3 70B shape; the "70B dense" of the compare mode.
	"dense-70b": {Name: "dense-70b", Params: 70.6e9, Layers: 80, Hidden: 8192, Heads: 64, SeqLen: 8192, Vocab: 128256},
	// GPT-3 175B shape as trained by MegaScale (NSDI'24): sequence 2048, vocabulary 64k.
	"gpt3-175b": {Name: "gpt3-175b", Params: 175e9, Layers: 96, Hidden: 12288, Heads: 96, SeqLen: 2048, Vocab: 64000},
	// DeepSeek-V3 (arXiv 2412.19437): 61 layers of which the first 3 are dense,
	// 256 routed experts with 8 active, node-limited routing to at most 4 nodes;
	// multi-head latent attention with 128 heads of Q·K width 192 and V width
	// 128, so AttnDim = 128·(192+128)/2.
	"deepseek-v3": {Name: "deepseek-v3", Params: 671e9, ActiveParams: 37e9, Layers: 61, Hidden: 7168, Heads: 128,
		SeqLen: 4096, Vocab: 129280, Experts: 256, TopK: 8, MoELayers: 58, RouteDomains: 4, AttnDim: 20480},
	// The "671B MoE" of the compare mode: DeepSeek-V3's shape.
	"moe-671b": {Name: "moe-671b", Params: 671e9, ActiveParams: 37e9, Layers: 61, Hidden: 7168, Heads: 128,
		SeqLen: 4096, Vocab: 129280, Experts: 256, TopK: 8, MoELayers: 58, RouteDomains: 4, AttnDim: 20480},
}

// Preset returns a built-in model shape by name (flag --model).
func Preset(name string) (Model, error) {
	m, ok := presets[name]
	if !ok {
		return Model{}, inputErrorf("unknown model preset %q (known: %s); or describe the model with --params, --layers, --hidden, --seq, --vocab",
			name, strings.Join(PresetNames(), ", "))
	}
	return m, nil
}

// PresetNames returns the built-in model names in sorted order.
func PresetNames() []string {
	out := make([]string, 0, len(presets))
	for n := range presets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
