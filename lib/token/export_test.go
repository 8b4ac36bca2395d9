package token

// DERToRaw exposes derToRaw to the external tests, which also use it to sign crafted claims
// with the real KMS key.
var DERToRaw = derToRaw
