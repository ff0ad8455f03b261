import { render } from 'preact';
render(<div>Myko</div>, document.getElementById('app')!);
