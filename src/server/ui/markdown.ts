// Repository descriptions are Markdown written by any account and shown to everyone: raw HTML is
// escaped (html: false) and links or images may only point to http(s), mailto or relative URLs.
import MarkdownIt from 'markdown-it';

const SAFE_SCHEMES = new Set(['http', 'https', 'mailto']);

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });
md.validateLink = (url: string) => {
  // Browsers ignore control characters and spaces inside a scheme (`java\tscript:`).
  const cleaned = [...url].filter((c) => c.charCodeAt(0) > 0x20 && c.charCodeAt(0) !== 0x7f).join('');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(cleaned)?.[1];
  return scheme === undefined || SAFE_SCHEMES.has(scheme.toLowerCase());
};
// Links leave the hub without handing it the referrer or window.opener.
const defaultLinkOpen = md.renderer.rules.link_open;
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx]?.attrSet('rel', 'nofollow noopener noreferrer');
  return defaultLinkOpen ? defaultLinkOpen(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options);
};

export function renderMarkdown(text: string): string {
  return md.render(text);
}
