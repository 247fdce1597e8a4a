import { type FormEvent, useState } from 'react';
import { useAuth } from './auth';

export function Login() {
  const { login, notice } = useAuth();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await login(String(form.get('username')), String(form.get('password')));
    } catch {
      setError('Wrong username or password (the password is "secret").');
      setBusy(false);
    }
  }

  return (
    <main className="card login" data-testid="login-page">
      <h1>Log in</h1>
      {notice && <p className="notice">{notice}</p>}
      <form onSubmit={onSubmit}>
        <label>
          Username <input name="username" defaultValue="alice" autoComplete="username" />
        </label>
        <label>
          Password <input name="password" type="password" autoComplete="current-password" />
        </label>
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
      {error && <p className="error">{error}</p>}
    </main>
  );
}
