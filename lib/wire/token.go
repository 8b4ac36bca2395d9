package wire

import "time"

// Token is the answer that carries a bearer token, for both user systems (portal and console
// logins, and the console token a portal user opens the console with).
type Token struct {
	Token        string    `json:"token"`
	TokenType    string    `json:"tokenType"`
	ExpiresAt    time.Time `json:"expiresAt"`
	DeploymentID string    `json:"deploymentId"`
	Roles        []string  `json:"roles"`
}
