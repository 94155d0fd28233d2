/** The API access token lives in sessionStorage: asked once per tab, gone when the tab closes. */
const KEY = 'deckhand.accessToken';

export function loadToken(): string | null {
  try {
    const token = sessionStorage.getItem(KEY);
    return token && token.trim() ? token : null;
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // Storage can be disabled; the token then lasts for this page only.
  }
}

export function clearToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // ignore
  }
}
