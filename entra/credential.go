package entra

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/spillway-gw/spillway/config"
)

// resolved is a backend's credential config with its secrets read.
type resolved struct {
	cfg      config.EntraCredential
	secret   string
	cert     []byte
	password string
}

// resolve reads the credential's secrets; dir resolves relative files.
// Errors name the field.
func resolve(e config.EntraCredential, dir string) (resolved, error) {
	r := resolved{cfg: e}
	var err error
	if !e.ClientSecret.IsZero() {
		if r.secret, err = e.ClientSecret.Resolve(dir); err != nil {
			return r, fmt.Errorf("client_secret: %w", err)
		}
	}
	if !e.Certificate.IsZero() {
		// A PKCS#12 file is binary: read it as it is, not trimmed.
		if f := e.Certificate.File; f != "" {
			if !filepath.IsAbs(f) && dir != "" {
				f = filepath.Join(dir, f)
			}
			if r.cert, err = os.ReadFile(f); err != nil {
				return r, fmt.Errorf("certificate: read %s: %w", e.Certificate.File, err)
			}
		} else {
			v, err := e.Certificate.Resolve(dir)
			if err != nil {
				return r, fmt.Errorf("certificate: %w", err)
			}
			r.cert = []byte(v)
		}
	}
	if !e.CertificatePassword.IsZero() {
		if r.password, err = e.CertificatePassword.Resolve(dir); err != nil {
			return r, fmt.Errorf("certificate_password: %w", err)
		}
	}
	return r, nil
}

// key identifies a credential: backends whose credentials have equal keys
// share one token source. Secrets enter only as a hash, so a rotated
// secret makes a new source.
func (r resolved) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q|%q|%q|%q|%q|%q|%q|%t|", r.cfg.Credential, r.cfg.TenantID, r.cfg.ClientID, r.cfg.ResourceID,
		r.cfg.TokenFile, r.cfg.Scope, r.cfg.AuthorityHost, r.cfg.DisableInstanceDiscovery)
	h.Write([]byte(r.secret))
	h.Write([]byte{0})
	h.Write(r.cert)
	h.Write([]byte{0})
	h.Write([]byte(r.password))
	return hex.EncodeToString(h.Sum(nil))
}

// describe names the credential in logs and metrics, without secrets.
func (r resolved) describe() string {
	s := r.cfg.Credential
	if r.cfg.ClientID != "" {
		s += " client_id=" + r.cfg.ClientID
	}
	if r.cfg.ResourceID != "" {
		s += " resource_id=" + r.cfg.ResourceID
	}
	return s
}

// newCredential builds the Azure SDK credential. transport, when not nil,
// carries every request the credential makes (tests trust a local issuer).
func newCredential(r resolved, transport policy.Transporter) (azcore.TokenCredential, error) {
	e := r.cfg
	co := azcore.ClientOptions{Transport: transport}
	if e.AuthorityHost != "" {
		co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: e.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
	}
	switch e.Credential {
	case config.EntraManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		switch {
		case e.ClientID != "":
			o.ID = azidentity.ClientID(e.ClientID)
		case e.ResourceID != "":
			o.ID = azidentity.ResourceID(e.ResourceID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	case config.EntraWorkloadIdentity:
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: co, ClientID: e.ClientID, TenantID: e.TenantID, TokenFilePath: e.TokenFile,
			DisableInstanceDiscovery: e.DisableInstanceDiscovery,
		})
	case config.EntraClientSecret:
		return azidentity.NewClientSecretCredential(e.TenantID, e.ClientID, r.secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: co, DisableInstanceDiscovery: e.DisableInstanceDiscovery,
		})
	case config.EntraClientCertificate:
		var pw []byte
		if r.password != "" {
			pw = []byte(r.password)
		}
		certs, key, err := azidentity.ParseCertificates(r.cert, pw)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		return azidentity.NewClientCertificateCredential(e.TenantID, e.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: co, DisableInstanceDiscovery: e.DisableInstanceDiscovery,
		})
	case config.EntraDefault:
		return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: co, TenantID: e.TenantID, DisableInstanceDiscovery: e.DisableInstanceDiscovery,
		})
	}
	return nil, fmt.Errorf("credential %q is not known", e.Credential)
}
