import { Link, useLocation } from 'react-router';

export function NotFound() {
  const location = useLocation();
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{location.pathname}</code>.
      </p>
      <p>
        <Link to="/">Go to the home page</Link> or <Link to="/chat">open the chat</Link>.
      </p>
    </section>
  );
}
