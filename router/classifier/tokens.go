package classifier

import "unsafe"

// numTokenFeatures is the length of tokenFeatures' result.
const numTokenFeatures = 29

// tokenFeatures lists the scanner counts the token estimate is linear in.
func tokenFeatures(k *counts) [numTokenFeatures]float64 {
	return [numTokenFeatures]float64{
		float64(k.wordLen[0]), float64(k.wordLen[1]), float64(k.wordLen[2]), float64(k.wordLen[3]),
		float64(k.wordLen[4]), float64(k.wordLen[5]), float64(k.wordLen[6]), float64(k.capWords),
		float64(k.wordExtra), float64(k.caseBreaks), float64(k.digitGroups), float64(k.punctRuns),
		float64(k.punctChars), float64(k.newlineRuns), float64(k.spaceRuns), float64(k.multiByte),
		float64(k.wideRunes), float64(k.spacedNums), float64(k.known), float64(k.capKnown),
		float64(k.capUnknown), float64(k.unknownLen[0]), float64(k.unknownLen[1]), float64(k.unknownLen[2]),
		float64(k.unknownLen[3]), float64(k.unknownLen[4]), float64(k.typoRunes), float64(k.cjkRunes),
		float64(k.glued),
	}
}

// estimateTokens approximates the cl100k_base token count of the text the
// scanner read, plus the chat framing (3 tokens per message or other piece,
// 3 for the reply), as exactTokens counts it. The coefficients were fitted
// by least squares on relative error against the exact BPE count of the
// shared prompt sets; TestEstimateWithinTenPercent checks the fit.
func estimateTokens(k *counts) int {
	return 3 + 3*k.messageCount + estimateText(k)
}

// estimateText is the estimate for the text alone.
func estimateText(k *counts) int {
	coef := [numTokenFeatures]float64{
		0.9823, 1.1259, 1.1334, 1.1334, 1.1417, 1.1211, -0.3084, 0.0538,
		1.1222, 0.0755, 1.3529, 0.4997, 0.2984, 0.4111, 0.9044, 1.3674,
		1.2338, 0.6778, -0.1057, -0.0504, 0.0251, 0.6345, 0.9545, 1.1186,
		1.2968, 1.4988, 0.3728, 1.9433, -0.5905,
	}
	f := tokenFeatures(k)
	est := 0.0
	for i := range f {
		est += coef[i] * f[i]
	}
	if est < 0 {
		return 0
	}
	return int(est + 0.5)
}

// bytesString views b as a string without copying; the result must not
// outlive b or be kept after the call that b belongs to.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
