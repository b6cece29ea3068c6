package llm

// Tier is a cost class of models chosen by the router: small (cheap),
// medium, large (expensive). The zero value means "not decided".
type Tier uint8

const (
	TierUnset Tier = iota
	TierSmall
	TierMedium
	TierLarge
)

// Tiers lists the decided tiers from cheapest to most expensive.
var Tiers = [...]Tier{TierSmall, TierMedium, TierLarge}

// String returns "small", "medium", "large", or "" for TierUnset.
func (t Tier) String() string {
	switch t {
	case TierSmall:
		return "small"
	case TierMedium:
		return "medium"
	case TierLarge:
		return "large"
	}
	return ""
}

// ParseTier reads a tier name as written by String. It reports false for
// anything else, including "".
func ParseTier(s string) (Tier, bool) {
	switch s {
	case "small":
		return TierSmall, true
	case "medium":
		return TierMedium, true
	case "large":
		return TierLarge, true
	}
	return TierUnset, false
}
