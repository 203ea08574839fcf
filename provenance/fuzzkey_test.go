package provenance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
)

var fuzzKey = func() PublicKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pk, err := NewPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return pk
}()
