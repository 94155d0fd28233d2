import { Link } from 'react-router';

export function Home() {
  return (
    <section className="home">
      <h1>deckhand chat</h1>
      <p>
        A small chat with Claude, and the reference app that <strong>deckhand</strong> deploys: this page is a
        single-page app served from S3 through CloudFront, and the chat talks to a NestJS API running on ECS
        behind the same domain at <code>/api</code>.
      </p>
      <p>
        Every route, including a deep link or a reload of <code>/chat</code>, is answered by the same{' '}
        <code>index.html</code>, so there is no per-page HTML file to go missing.
      </p>
      <p>
        <Link className="button-link" to="/chat">
          Open the chat
        </Link>
      </p>
    </section>
  );
}
