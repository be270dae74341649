// Drives the official GIPHY client (@giphy/js-fetch-api) against a server given as the
// base URL ending in /v1/; prints what each call returned as one JSON object.
// Usage: node giphy_client.mjs BASE_URL API_KEY QUERY
import { GiphyFetch, setServerUrl } from '@giphy/js-fetch-api';

const [base, key, query] = process.argv.slice(2);
setServerUrl(base);
const gf = new GiphyFetch(key);
const brief = (result) => ({
  ids: result.data.map((gif) => gif.id),
  titles: result.data.map((gif) => gif.title),
  original: result.data.map((gif) => gif.images.original),
  pagination: result.pagination,
  response_id: result.meta.response_id,
});
const out = {};
out.search = brief(await gf.search(query, { limit: 5 }));
out.page2 = brief(await gf.search(query, { limit: 5, offset: 5 }));
out.trending = brief(await gf.trending({ limit: 4 }));
const first = out.search.ids[0];
const one = await gf.gif(first);
out.gif = { id: one.data.id, title: one.data.title, response_id: one.meta.response_id };
out.gifs = brief(await gf.gifs(out.search.ids.slice(0, 3).reverse()));
const related = await gf.related(first, { limit: 3 });
out.related = brief(related);
const categories = await gf.categories();
out.categories = {
  names: categories.data.map((category) => category.name),
  encoded: categories.data.map((category) => category.name_encoded),
  gifs: categories.data.map((category) => category.gif.id),
  response_id: categories.meta.response_id,
};
try {
  await gf.search('', { limit: 5 });
  out.empty = 'answered';
} catch (error) {
  out.empty = { message: error.message, status: error.status };
}
console.log(JSON.stringify(out));
