// The node buildpack runs `npm start`; PORT comes from its Dockerfile.
const http = require("http");
const port = Number(process.env.PORT || 3000);

http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end("hello from the berth node example\n");
}).listen(port, () => console.log(`listening on ${port}`));
